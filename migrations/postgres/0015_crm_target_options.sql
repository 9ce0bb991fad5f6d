-- A tenant may ask for its users to be deleted on the CRM target when their account is
-- deprovisioned (1), instead of deactivated (active: false, the default 0).
ALTER TABLE crm_targets ADD COLUMN delete_on_deprovision BIGINT NOT NULL DEFAULT 0;
-- Where each account setting goes on a SCIM target, as the admin wrote it (YAML; NULL:
-- the default mapping).
ALTER TABLE crm_targets ADD COLUMN mapping TEXT;
-- OAuth 2.0 client credentials instead of a static bearer token: the token endpoint, the
-- client id and the scope asked for (the client secret is the sealed `secret`). NULL
-- token_url: `secret` is the bearer token itself.
ALTER TABLE crm_targets ADD COLUMN token_url TEXT;
ALTER TABLE crm_targets ADD COLUMN client_id TEXT;
ALTER TABLE crm_targets ADD COLUMN scope TEXT;
-- Reconcile on a schedule: every reconcile_hours (NULL: on demand only), next due at
-- next_reconcile_at (unix ms); the last scheduled one's outcome as JSON (when, how many
-- accounts were out of step, or why it could not run).
ALTER TABLE crm_targets ADD COLUMN reconcile_hours BIGINT;
ALTER TABLE crm_targets ADD COLUMN next_reconcile_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE crm_targets ADD COLUMN last_reconcile TEXT;
-- The groups on the target the account's user was made a member of (JSON array of names,
-- for a mapping with `groups`): the memberships to take away when they change.
ALTER TABLE crm_accounts ADD COLUMN target_groups TEXT;
