-- The Users page's status facet asks, per staged user, for the outcome of the last run
-- that touched it ("error"): without this index that is a scan of every run's users.
CREATE INDEX sync_run_users_by_user ON sync_run_users(tenant_id, staged_user_id, run_id);

-- When a token was last verified (at most about once a minute per process: verified
-- tokens are remembered for a minute), shown next to it on the Connection page.
ALTER TABLE scim_tokens ADD COLUMN last_used_at TEXT;
ALTER TABLE admin_tokens ADD COLUMN last_used_at TEXT;

-- The Users page's search finds a text anywhere in a user's userName, display name,
-- e-mails or externalId. A LIKE '%text%' over 100,000 users reads every row (about 100 ms
-- here); a trigram index finds texts of three characters or more at once. FTS5's trigram
-- tokenizer indexes every three-character substring of the folded columns joined by
-- newlines. Keeping it in step inside every SCIM write cost a fifth of the ingest rate, so
-- writes only note which users changed (staged_users_search_stale, one small insert) and
-- the store brings the index up to date before a search and on serve's tick
-- (Store::refresh_user_search).
CREATE VIRTUAL TABLE staged_users_search USING fts5(text, tokenize = 'trigram');
CREATE TABLE staged_users_search_stale (pk INTEGER PRIMARY KEY);

CREATE TRIGGER staged_users_search_insert AFTER INSERT ON staged_users BEGIN
    INSERT OR IGNORE INTO staged_users_search_stale (pk) VALUES (new.pk);
END;

CREATE TRIGGER staged_users_search_update
AFTER UPDATE OF user_name_folded, display_name_folded, emails_folded, external_id ON staged_users
BEGIN
    INSERT OR IGNORE INTO staged_users_search_stale (pk) VALUES (new.pk);
END;

CREATE TRIGGER staged_users_search_delete AFTER DELETE ON staged_users BEGIN
    INSERT OR IGNORE INTO staged_users_search_stale (pk) VALUES (old.pk);
END;

INSERT INTO staged_users_search_stale (pk) SELECT pk FROM staged_users;
