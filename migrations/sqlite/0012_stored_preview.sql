-- The stored preview: the company's plan as rows, one per staged user (and per account
-- whose user the IdP deleted) for the published rules and for the draft, so the Preview
-- page pages, filters, sorts and counts 100,000 users in SQL instead of running the
-- rules for every keystroke. A background refresher keeps it current (docs/sync.md#the-stored-preview).

-- Bumped whenever the tenant's CRM accounts change (a sync applied changes, a restart
-- unlinked them): a preview computed before is out of date.
ALTER TABLE tenants ADD COLUMN accounts_seq INTEGER NOT NULL DEFAULT 0;

-- One row per tenant and rule set ('published' or 'draft'): which generation of rows is
-- the preview, what it was computed from (basis), when, and its totals.
CREATE TABLE preview_state (
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    rules           TEXT NOT NULL,
    generation      INTEGER NOT NULL,
    -- the versions it reflects: change sequence, rule set, draft, catalogue, settings,
    -- accounts (see StoredPreview::basis)
    basis           TEXT NOT NULL,
    change_seq      INTEGER NOT NULL,
    computed_at     TEXT NOT NULL,
    -- JSON: what the rows alone do not say (seats, guard, accounts waiting to be
    -- re-linked, active accounts)
    summary         TEXT NOT NULL,
    -- how long the last full computation took, which paces background refreshes
    full_refresh_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, rules)
);

-- A refresh writes a new generation beside the current one, in chunks, and switches
-- preview_state.generation when it is complete: readers never see half a preview and a
-- refresh never holds the write lock for long.
CREATE TABLE preview_rows (
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    rules            TEXT NOT NULL,
    generation       INTEGER NOT NULL,
    user_id          TEXT NOT NULL,
    -- 0: an account whose staged user the IdP deleted
    staged           INTEGER NOT NULL,
    action           TEXT NOT NULL,
    synced           INTEGER NOT NULL,
    name             TEXT,
    username         TEXT NOT NULL,
    email            TEXT,
    external_id      TEXT,
    user_plan        TEXT,
    owner_company    TEXT,
    primary_group    TEXT,
    -- a JSON array of names; NULL when the user gets no account
    secondary_groups TEXT,
    role             TEXT,
    -- 'true' / 'false'; NULL when the user gets no account
    confidential     TEXT,
    -- the fields the action changes, as ',role,user_plan,' (so LIKE '%,role,%' finds one)
    changed          TEXT NOT NULL,
    reason           TEXT,
    -- the user plan whose seat the account holds now (active accounts only)
    account_plan     TEXT,
    -- case-folded copies for filters and sorting, '' for NULL
    name_k           TEXT NOT NULL,
    username_k       TEXT NOT NULL,
    email_k          TEXT NOT NULL,
    external_id_k    TEXT NOT NULL,
    user_plan_k      TEXT NOT NULL,
    owner_company_k  TEXT NOT NULL,
    primary_group_k  TEXT NOT NULL,
    secondary_groups_k TEXT NOT NULL,
    role_k           TEXT NOT NULL,
    reason_k         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, rules, generation, user_id)
);
CREATE INDEX preview_rows_username ON preview_rows(tenant_id, rules, generation, username_k, user_id);
