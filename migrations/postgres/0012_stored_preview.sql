-- The stored preview: the company's plan as rows, one per staged user (and per account
-- whose user the IdP deleted) for the published rules and for the draft, so the Preview
-- page pages, filters, sorts and counts 100,000 users in SQL instead of running the
-- rules for every keystroke. A background refresher keeps it current (docs/sync.md#the-stored-preview).

-- Bumped whenever the tenant's CRM accounts change (a sync applied changes, a restart
-- unlinked them): a preview computed before is out of date.
ALTER TABLE tenants ADD COLUMN accounts_seq BIGINT NOT NULL DEFAULT 0;

-- One row per tenant and rule set ('published' or 'draft'): which generation of rows is
-- the preview, what it was computed from (basis), when, and its totals.
CREATE TABLE preview_state (
    tenant_id       BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    rules           TEXT NOT NULL,
    generation      BIGINT NOT NULL,
    -- the versions it reflects: change sequence, rule set, draft, catalogue, settings,
    -- accounts (see StoredPreview::basis)
    basis           TEXT NOT NULL,
    change_seq      BIGINT NOT NULL,
    computed_at     TEXT NOT NULL,
    -- JSON: what the rows alone do not say (seats, guard, accounts waiting to be
    -- re-linked, active accounts)
    summary         TEXT NOT NULL,
    -- how long the last full computation took, which paces background refreshes
    full_refresh_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, rules)
);

-- A refresh writes a new generation beside the current one, in chunks, and switches
-- preview_state.generation when it is complete: readers never see half a preview and a
-- refresh never holds the write lock for long. Text compares and sorts by code point
-- (COLLATE "C"), as SQLite's BINARY does, so both databases page in the same order.
CREATE TABLE preview_rows (
    tenant_id        BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    rules            TEXT COLLATE "C" NOT NULL,
    generation       BIGINT NOT NULL,
    user_id          TEXT COLLATE "C" NOT NULL,
    -- 0: an account whose staged user the IdP deleted
    staged           BIGINT NOT NULL,
    action           TEXT COLLATE "C" NOT NULL,
    synced           BIGINT NOT NULL,
    name             TEXT COLLATE "C",
    username         TEXT COLLATE "C" NOT NULL,
    email            TEXT COLLATE "C",
    external_id      TEXT COLLATE "C",
    user_plan        TEXT COLLATE "C",
    owner_company    TEXT COLLATE "C",
    primary_group    TEXT COLLATE "C",
    -- a JSON array of names; NULL when the user gets no account
    secondary_groups TEXT COLLATE "C",
    role             TEXT COLLATE "C",
    -- 'true' / 'false'; NULL when the user gets no account
    confidential     TEXT COLLATE "C",
    -- the fields the action changes, as ',role,user_plan,' (so LIKE '%,role,%' finds one)
    changed          TEXT COLLATE "C" NOT NULL,
    reason           TEXT COLLATE "C",
    -- the user plan whose seat the account holds now (active accounts only)
    account_plan     TEXT COLLATE "C",
    -- case-folded copies for filters and sorting, '' for NULL
    name_k           TEXT COLLATE "C" NOT NULL,
    username_k       TEXT COLLATE "C" NOT NULL,
    email_k          TEXT COLLATE "C" NOT NULL,
    external_id_k    TEXT COLLATE "C" NOT NULL,
    user_plan_k      TEXT COLLATE "C" NOT NULL,
    owner_company_k  TEXT COLLATE "C" NOT NULL,
    primary_group_k  TEXT COLLATE "C" NOT NULL,
    secondary_groups_k TEXT COLLATE "C" NOT NULL,
    role_k           TEXT COLLATE "C" NOT NULL,
    reason_k         TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant_id, rules, generation, user_id)
);
CREATE INDEX preview_rows_username ON preview_rows(tenant_id, rules, generation, username_k, user_id);
-- Every full refresh replaces a tenant's rows: vacuum (and analyze) this table sooner
-- than the default 20 % of dead rows, so its size stays near two generations and the
-- planner knows the new one.
ALTER TABLE preview_rows SET (autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02);
