-- Notifications: who wants which events, the outbox that delivers them, the grouping
-- state that keeps a recurring problem to one message, and welcome e-mails sent.

CREATE TABLE subscriptions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- email | webhook
    channel     TEXT NOT NULL,
    -- the address, or the URL
    target      TEXT NOT NULL,
    -- JSON array of event kinds (sync.error, sync.failed, sync.held, seats.exhausted,
    -- scim.auth_failures)
    events      TEXT NOT NULL,
    -- webhooks: the HMAC-SHA256 key; shown once at creation, never again
    secret      TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX subscriptions_tenant ON subscriptions(tenant_id);

-- One row per fingerprint (tenant, kind, cause): when it was last sent, how often it
-- recurred since, and whether the condition still holds (a "resolved" message closes it).
CREATE TABLE notification_groups (
    tenant_id     BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    fingerprint   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    cause         TEXT NOT NULL,
    open          BIGINT NOT NULL,
    last_sent_at  BIGINT NOT NULL,
    recurrences   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, fingerprint)
);

-- Every message, written in the transaction of the event that caused it, then delivered
-- by a worker holding a lease on it.
CREATE TABLE outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id        BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- NULL for welcome e-mails
    subscription_id  BIGINT,
    channel          TEXT NOT NULL,
    target           TEXT NOT NULL,
    event            TEXT NOT NULL,
    -- JSON: {subject, text, html} for e-mail, the request body for webhooks
    payload          TEXT NOT NULL,
    -- pending | delivered | dead
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    -- unix ms
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    lease_holder     TEXT,
    lease_until      BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
CREATE INDEX outbox_tenant ON outbox(tenant_id, id);

-- At most one welcome e-mail per account, ever.
CREATE TABLE welcome_sent (
    tenant_id   BIGINT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    account_pk  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, account_pk)
);

-- welcome e-mail: on since (RFC 3339; NULL = off); only accounts created since get one
ALTER TABLE sync_settings ADD COLUMN welcome_email_since TEXT;
ALTER TABLE sync_settings ADD COLUMN sign_in_url TEXT;
