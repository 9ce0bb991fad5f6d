-- People who sign in to the web UI: local accounts (argon2id password hashes) and, later,
-- accounts matched by OIDC subject. Each has one role and sees only the tenants granted
-- to it. Sessions are stored here (only a hash of the cookie's id), so sign-out and a
-- password change end them at once, on every replica.
CREATE TABLE admin_accounts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    password_hash    TEXT,
    role             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    -- Failed sign-ins since the last success, and until when (Unix ms) sign-in is refused.
    failed_sign_ins  INTEGER NOT NULL DEFAULT 0,
    locked_until     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE admin_account_tenants (
    account_id  INTEGER NOT NULL REFERENCES admin_accounts(id) ON DELETE CASCADE,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, tenant_id)
);

CREATE TABLE admin_sessions (
    id_hash     TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES admin_accounts(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX admin_sessions_account ON admin_sessions (account_id);

-- First run: while no account exists, `serve` prints a link with a one-time token (its
-- hash here) to a page that creates the first administrator. Used once, or expired.
CREATE TABLE admin_setup_links (
    token_hash  TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
