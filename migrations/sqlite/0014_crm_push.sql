-- CRM connectors: where each tenant's account changes are pushed (a SCIM 2.0 application
-- or a signed webhook), and the queue that pushes them. Without a row in crm_targets a
-- tenant keeps its accounts in scimgate's own table only, as before.
CREATE TABLE crm_targets (
    tenant_id     INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    -- scim | webhook
    kind          TEXT NOT NULL,
    url           TEXT NOT NULL,
    -- the bearer token (scim) or the signing secret (webhook), sealed with the server's
    -- key (AES-256-GCM, base64 of nonce and ciphertext): never stored or shown in clear
    secret        TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- One row per account change to push, queued in the transaction that made the change.
-- The deliverer sends the account's state at the time of sending, so a row says which
-- account, not what: several queued changes of one account end in its latest state.
-- Rows of one account are delivered in id order, one at a time.
CREATE TABLE crm_push (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    account_pk       INTEGER NOT NULL,
    -- pending | delivered | dead
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- unix ms
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    lease_holder     TEXT,
    lease_until      INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE INDEX crm_push_due ON crm_push(status, next_attempt_at);
CREATE INDEX crm_push_account ON crm_push(tenant_id, account_pk, id);

-- The id the target gave the account (its SCIM id), once linked.
ALTER TABLE crm_accounts ADD COLUMN target_id TEXT;
