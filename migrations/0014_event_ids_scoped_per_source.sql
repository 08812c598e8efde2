-- Event ids scoped per source (issue 16, F5): each channel, BOSS and each clerk has its own
-- namespace of event ids, so one source can neither squat nor probe another's. A key is stored
-- under its scoped id (`hotline/hl-1`: domain/roles.py, stored_event_id) with the source that
-- posted it.
--
-- `source` NULL: a key stored before this migration, under the bare id some channel posted.
-- Such keys still answer that bare id for every source, so a channel retrying an event it
-- posted before the upgrade is told "duplicate" rather than storing it twice; the partial
-- index finds them (and whether there are any) without reading the others.

ALTER TABLE ingest_keys ADD COLUMN source TEXT;
CREATE INDEX IF NOT EXISTS ingest_keys_unscoped ON ingest_keys (event_id) WHERE source IS NULL;
