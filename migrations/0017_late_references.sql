-- Late references (issue 18): a step of an order (service.activated, order.cancelled) that comes
-- before the order is recorded, kept on the customer until the order is placed, then linked (the
-- same step recorded again after the placement) or listed as a conflict (order.conflict;
-- docs/events.md §3.15). Both tables belong to the customer view (projections/customer_view.py)
-- and are served by GET /v1/conflicts.
CREATE TABLE IF NOT EXISTS rm_pending_step (
    event_id    TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    step_type   TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    position    BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_pending_step_order ON rm_pending_step (customer_id, order_id);
CREATE INDEX IF NOT EXISTS rm_pending_step_recorded ON rm_pending_step (recorded_at);

CREATE TABLE IF NOT EXISTS rm_order_conflict (
    event_id      TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    step_event_id TEXT NOT NULL,
    step_type     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    position      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_order_conflict_recorded ON rm_order_conflict (recorded_at);
