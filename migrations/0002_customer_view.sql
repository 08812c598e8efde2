-- Read model: the 360-degree customer view (projections/customer_view.py owns these tables).
-- Times are ISO 8601 text in UTC with microseconds, so they sort correctly on both backends.

CREATE TABLE IF NOT EXISTS rm_customer (
    customer_id     TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    segment         TEXT NOT NULL,
    tier            TEXT NOT NULL,
    arpu            DOUBLE PRECISION,
    msisdns         TEXT NOT NULL,
    registered_at   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS rm_msisdn (
    msisdn      TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS rm_order (
    order_id          TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL,
    status            TEXT NOT NULL,
    services          TEXT NOT NULL,
    activated         TEXT NOT NULL,
    placed_at         TEXT NOT NULL,
    last_activated_at TEXT,
    cancelled_at      TEXT,
    cancel_reason     TEXT
);
CREATE INDEX IF NOT EXISTS rm_order_customer ON rm_order (customer_id);

CREATE TABLE IF NOT EXISTS rm_complaint (
    complaint_id     TEXT PRIMARY KEY,
    customer_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    category         TEXT NOT NULL,
    severity         TEXT NOT NULL,
    summary          TEXT NOT NULL,
    channel          TEXT NOT NULL,
    owner            TEXT NOT NULL,
    opened_at        TEXT NOT NULL,
    acknowledged_at  TEXT,
    assigned_to      TEXT,
    escalation_level INTEGER NOT NULL DEFAULT 0,
    resolved_at      TEXT,
    resolved_by      TEXT,
    resolution       TEXT,
    satisfaction     INTEGER,
    followed_up_at   TEXT,
    closed_at        TEXT,
    reopen_count     INTEGER NOT NULL DEFAULT 0,
    last_changed_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_complaint_customer ON rm_complaint (customer_id, status);

CREATE TABLE IF NOT EXISTS rm_contact (
    position     BIGINT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    channel      TEXT NOT NULL,
    direction    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    handled_by   TEXT NOT NULL,
    site         TEXT,
    duration_s   INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    order_id     TEXT,
    complaint_id TEXT
);
CREATE INDEX IF NOT EXISTS rm_contact_timeline ON rm_contact (customer_id, occurred_at, position);

CREATE TABLE IF NOT EXISTS rm_channel_count (
    customer_id TEXT NOT NULL,
    channel     TEXT NOT NULL,
    contacts    BIGINT NOT NULL,
    PRIMARY KEY (customer_id, channel)
);
