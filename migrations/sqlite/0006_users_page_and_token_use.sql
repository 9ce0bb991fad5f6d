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
-- tokenizer indexes every three-character substring; the searched text is the folded
-- columns joined by newlines, kept in step with staged_users by these triggers.
CREATE VIRTUAL TABLE staged_users_search USING fts5(text, tokenize = 'trigram');

CREATE TRIGGER staged_users_search_insert AFTER INSERT ON staged_users BEGIN
    INSERT INTO staged_users_search (rowid, text) VALUES (new.pk,
        new.user_name_folded || char(10) || COALESCE(new.display_name_folded, '') || char(10)
        || new.emails_folded || char(10) || LOWER(COALESCE(new.external_id, '')));
END;

CREATE TRIGGER staged_users_search_update
AFTER UPDATE OF user_name_folded, display_name_folded, emails_folded, external_id ON staged_users
BEGIN
    UPDATE staged_users_search SET text =
        new.user_name_folded || char(10) || COALESCE(new.display_name_folded, '') || char(10)
        || new.emails_folded || char(10) || LOWER(COALESCE(new.external_id, ''))
    WHERE rowid = new.pk;
END;

CREATE TRIGGER staged_users_search_delete AFTER DELETE ON staged_users BEGIN
    DELETE FROM staged_users_search WHERE rowid = old.pk;
END;

INSERT INTO staged_users_search (rowid, text)
SELECT pk, user_name_folded || char(10) || COALESCE(display_name_folded, '') || char(10)
    || emails_folded || char(10) || LOWER(COALESCE(external_id, ''))
FROM staged_users;
