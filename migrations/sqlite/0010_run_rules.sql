-- Which rules a run used: the published set (automatic sync always does), or the draft an
-- admin chose to sync with before publishing it.
ALTER TABLE sync_runs ADD COLUMN rules TEXT NOT NULL DEFAULT 'published';
