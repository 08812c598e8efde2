-- Merged customers (issue 18, part 4): a duplicate record merged into its survivor
-- (customer.merged on the duplicate's stream) until it is unmerged (customer.unmerged, which
-- deletes the row). Reads of either id answer the survivor's unified view: the survivor and
-- every duplicate merged into it now (projections/customer_queries.py, identity). Nothing is
-- copied: each record's rows stay under its own id, so an unmerge restores each exactly.
CREATE TABLE IF NOT EXISTS rm_merge (
    duplicate_id TEXT PRIMARY KEY,
    survivor_id  TEXT NOT NULL,
    merged_at    TEXT NOT NULL,
    position     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_merge_survivor ON rm_merge (survivor_id);
