-- The Users page's status facet asks, per staged user, for the outcome of the last run
-- that touched it ("error"): without this index that is a scan of every run's users.
CREATE INDEX sync_run_users_by_user ON sync_run_users(tenant_id, staged_user_id, run_id);

-- When a token was last verified (at most about once a minute per process: verified
-- tokens are remembered for a minute), shown next to it on the Connection page.
ALTER TABLE scim_tokens ADD COLUMN last_used_at TEXT;
ALTER TABLE admin_tokens ADD COLUMN last_used_at TEXT;
