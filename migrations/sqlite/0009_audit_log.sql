-- The audit log: every change an admin makes, with who, when, through which front end
-- (ui, api, cli, system) and from which address, and the state before and after as JSON.
-- Sign-ins are recorded in each tenant the account sees; a failed sign-in with an unknown
-- name belongs to no tenant (tenant_id NULL) and is read from the CLI only.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   INTEGER REFERENCES tenants(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    who         TEXT NOT NULL,
    via         TEXT NOT NULL,
    source      TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    before      TEXT,
    after       TEXT
);
-- Newest first, per tenant; the filters (area, who, dates, text) narrow that walk.
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
