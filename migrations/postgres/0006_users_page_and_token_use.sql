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
-- characters or more at once. It indexes the folded columns joined by newlines, in a table
-- of its own: keeping it in step inside every SCIM write cost a sixth of the ingest rate,
-- so writes only note which users changed (staged_users_search_stale, one small insert) and
-- the store brings the index up to date before a search and on serve's tick
-- (Store::refresh_user_search).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE staged_users_search (
    pk   BIGINT PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE INDEX staged_users_search_text ON staged_users_search USING gin (text gin_trgm_ops);
CREATE TABLE staged_users_search_stale (pk BIGINT PRIMARY KEY);

CREATE FUNCTION staged_users_search_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO staged_users_search_stale (pk) VALUES (OLD.pk) ON CONFLICT DO NOTHING;
        RETURN OLD;
    END IF;
    INSERT INTO staged_users_search_stale (pk) VALUES (NEW.pk) ON CONFLICT DO NOTHING;
    RETURN NEW;
END
$$;

CREATE TRIGGER staged_users_search_mark
AFTER INSERT OR DELETE OR UPDATE OF user_name_folded, display_name_folded, emails_folded, external_id
ON staged_users FOR EACH ROW EXECUTE FUNCTION staged_users_search_mark();

INSERT INTO staged_users_search_stale (pk) SELECT pk FROM staged_users;

-- Browsing every user a page at a time finds the page's keys on this index alone (SQLite's
-- userName index carries the rowid, which is pk, already).
CREATE INDEX staged_users_name_pk ON staged_users (tenant_id, user_name_folded) INCLUDE (pk);
