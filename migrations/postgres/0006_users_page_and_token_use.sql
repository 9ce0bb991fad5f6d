-- The Users page's status facet asks, per staged user, for the outcome of the last run
-- that touched it ("error"): without this index that is a scan of every run's users.
CREATE INDEX sync_run_users_by_user ON sync_run_users(tenant_id, staged_user_id, run_id);

-- When a token was last verified (at most about once a minute per process: verified
-- tokens are remembered for a minute), shown next to it on the Connection page.
ALTER TABLE scim_tokens ADD COLUMN last_used_at TEXT;
ALTER TABLE admin_tokens ADD COLUMN last_used_at TEXT;

-- The Users page's search finds a text anywhere in a user's userName, display name,
-- e-mails or externalId. A LIKE '%text%' over 100,000 users reads every row; a trigram
-- index (pg_trgm, a trusted extension shipped with PostgreSQL) finds texts of three
-- characters or more at once. The indexed expression is the folded columns joined by
-- newlines; the search (store/src/staged_search.rs) uses the very same expression. Kept by
-- every write: that cost about a tenth of the SCIM create rate (BENCHMARKS.md), less than
-- a trigger noting changed users for a later refresh, as SQLite does, cost here.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX staged_users_search ON staged_users USING gin ((
    user_name_folded || E'\n' || COALESCE(display_name_folded, '') || E'\n'
    || emails_folded || E'\n' || LOWER(COALESCE(external_id, ''))) gin_trgm_ops);

-- Browsing every user a page at a time finds the page's keys on this index alone (SQLite's
-- userName index carries the rowid, which is pk, already).
CREATE INDEX staged_users_name_pk ON staged_users (tenant_id, user_name_folded) INCLUDE (pk);
