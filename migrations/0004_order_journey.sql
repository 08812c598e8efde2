-- Read model: each order's journey to activation (projections/journey_view.py owns it).
-- A new read model: the projector builds it from the whole log. Its counts are recounted
-- from rm_contact (the customer view's timeline) whenever an order's window or its
-- customer's contacts change, so they are exact whatever order events arrive in.

CREATE TABLE IF NOT EXISTS rm_order_journey (
    order_id        TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    placed_at       TEXT NOT NULL,
    services        TEXT NOT NULL,
    activated       TEXT NOT NULL,
    state           TEXT NOT NULL,
    last_activated_at TEXT,
    cancelled_at    TEXT,
    window_end      TEXT,
    calls           INTEGER NOT NULL DEFAULT 0,
    contacts        INTEGER NOT NULL DEFAULT 0,
    visits          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rm_order_journey_customer ON rm_order_journey (customer_id);
CREATE INDEX IF NOT EXISTS rm_order_journey_state ON rm_order_journey (state, placed_at);
