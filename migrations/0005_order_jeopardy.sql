-- Read model: orders flagged in jeopardy (order.jeopardy, recorded by the jeopardy watcher),
-- on rm_order_journey (projections/journey_view.py owns it). No stored log held an
-- order.jeopardy before this migration, so the new columns start empty and need no rebuild.
-- A migration runs in one transaction on both backends (the schema_migrations row with it),
-- so these plain ADD COLUMNs are never half applied.

ALTER TABLE rm_order_journey ADD COLUMN jeopardy_at TEXT;
ALTER TABLE rm_order_journey ADD COLUMN jeopardy_reasons TEXT;
ALTER TABLE rm_order_journey ADD COLUMN jeopardy_observed_at TEXT;
ALTER TABLE rm_order_journey ADD COLUMN jeopardy_limit_days DOUBLE PRECISION;
ALTER TABLE rm_order_journey ADD COLUMN jeopardy_limit_calls BIGINT;
ALTER TABLE rm_order_journey ADD COLUMN jeopardy_calls BIGINT;
-- GET /v1/orders?jeopardy=true lists flagged orders newest first
CREATE INDEX IF NOT EXISTS rm_order_journey_jeopardy ON rm_order_journey (placed_at) WHERE jeopardy_at IS NOT NULL;
