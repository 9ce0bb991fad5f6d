-- The Preview's *Set by rule* column: the rules whose values stand for the row, joined by
-- ", ", and its case-folded copy. Stored previews computed before this column existed are
-- dropped, so the next read or the background refresher computes them again with it.
ALTER TABLE preview_rows ADD COLUMN set_by TEXT;
ALTER TABLE preview_rows ADD COLUMN set_by_k TEXT NOT NULL DEFAULT '';
DELETE FROM preview_rows;
DELETE FROM preview_state;
