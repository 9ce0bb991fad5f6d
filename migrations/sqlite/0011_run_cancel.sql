-- An admin asked a running run to stop: it stops at its next safe point (between two
-- committed chunks) as 'cancelled'; the next run completes what it left.
ALTER TABLE sync_runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
