-- The CRM side (catalogue, accounts), each tenant's rule set and sync settings, sync
-- runs with their per-user outcomes, and leases that let one replica run a tenant's sync.

-- What exists in the CRM. kind: user_plan | company | group | role.
CREATE TABLE catalog_entries (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- user plans: purchased seats; NULL = no limit
    seats       INTEGER,
    PRIMARY KEY (tenant_id, kind, name)
);

-- The saved rule set: the YAML as the admin wrote it, and the Rhai scripts it names.
CREATE TABLE rule_sets (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    yaml        TEXT NOT NULL,
    -- JSON object: script file name -> script text
    scripts     TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE sync_settings (
    tenant_id           INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    user_sync_active    INTEGER NOT NULL,
    schedule            TEXT NOT NULL,
    debounce_seconds    INTEGER NOT NULL,
    guard_percent       INTEGER NOT NULL,
    guard_minimum       INTEGER NOT NULL,
    -- when the last restart cleared the holding area (accounts wait to be re-linked)
    restarted_at        TEXT,
    -- automatic sync claims: the last cron fire time (unix ms) and the last change
    -- sequence a run was started for; a replica starts a run only by advancing one
    -- of them with a conditional UPDATE, so each tick runs once across replicas
    cron_claimed_at     INTEGER NOT NULL DEFAULT 0,
    change_claimed_seq  INTEGER NOT NULL DEFAULT 0
);

-- Admin API tokens: like SCIM tokens (only a SHA-256 is kept), but a separate table, so
-- a SCIM token can never call the admin API and the other way round.
CREATE TABLE admin_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    label       TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX admin_tokens_tenant ON admin_tokens(tenant_id);

CREATE TABLE crm_accounts (
    pk               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- the staged user's id; NULL after a restart until the IdP sends the user again
    staged_user_id   TEXT,
    external_id      TEXT,
    username         TEXT NOT NULL,
    display_name     TEXT,
    email            TEXT,
    user_plan        TEXT,
    owner_company    TEXT,
    primary_group    TEXT,
    -- JSON array of names
    secondary_groups TEXT NOT NULL,
    role             TEXT,
    confidential     INTEGER NOT NULL,
    active           INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deactivated_at   TEXT
);
-- One account per staged user: what makes a repeated or resumed run unable to duplicate.
CREATE UNIQUE INDEX crm_accounts_staged ON crm_accounts(tenant_id, staged_user_id);
CREATE INDEX crm_accounts_external_id ON crm_accounts(tenant_id, external_id);

CREATE TABLE sync_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- manual_user | manual_company | schedule | change
    trigger_kind    TEXT NOT NULL,
    -- running | completed | failed | held | approved | rejected | superseded
    status          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    users_received  INTEGER NOT NULL DEFAULT 0,
    users_synced    INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL DEFAULT 0,
    updated         INTEGER NOT NULL DEFAULT 0,
    deprovisioned   INTEGER NOT NULL DEFAULT 0,
    unchanged       INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0,
    held            INTEGER NOT NULL DEFAULT 0,
    message         TEXT
);
CREATE INDEX sync_runs_tenant ON sync_runs(tenant_id, id);

-- What a run did to each user it touched (unchanged users are only counted).
-- outcome: created | updated | deprovisioned | error | held
CREATE TABLE sync_run_users (
    run_id          INTEGER NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,
    tenant_id       INTEGER NOT NULL,
    staged_user_id  TEXT NOT NULL,
    username        TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    account_pk      INTEGER,
    error           TEXT,
    PRIMARY KEY (run_id, staged_user_id)
);

-- A lease is held by one process until it expires; taking one is a single conditional
-- write, so two replicas can never both hold it.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
