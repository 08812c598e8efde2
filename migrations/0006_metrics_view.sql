-- Read model: contact quality and customer value (projections/metrics_view.py owns these tables).
-- A new read model: the projector builds it from the whole log. Times are ISO 8601 text in
-- UTC; `day` is the local date in the operator's time zone (CONTACTHUB_TIMEZONE: changing
-- it needs `contacthub rebuild`). Flags are 0/1 integers so they can be summed.

-- Every tier a customer was given, on event time: registration, then each tier change.
CREATE TABLE IF NOT EXISTS rm_tier_history (
    customer_id   TEXT NOT NULL,
    effective_at  TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    tier          TEXT NOT NULL,
    arpu          DOUBLE PRECISION,
    PRIMARY KEY (customer_id, effective_at, event_id)
);

-- Each customer's latest tier and ARPU by event time.
CREATE TABLE IF NOT EXISTS rm_customer_value (
    customer_id   TEXT PRIMARY KEY,
    tier          TEXT NOT NULL,
    arpu          DOUBLE PRECISION,
    effective_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_customer_value_tier ON rm_customer_value (tier);

-- One row per contact with the verdicts of domain/contact_quality.py.
CREATE TABLE IF NOT EXISTS rm_contact_fact (
    event_id      TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    day           TEXT NOT NULL,
    channel       TEXT NOT NULL,
    direction     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    handled_by    TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    duration_s    BIGINT NOT NULL,
    tier          TEXT NOT NULL,
    inbound       BIGINT NOT NULL,
    self_service  BIGINT NOT NULL,
    assisted      BIGINT NOT NULL,
    issue_start   BIGINT NOT NULL,
    repeated      BIGINT NOT NULL,
    fcr           BIGINT NOT NULL,
    contained     BIGINT NOT NULL,
    handled       BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_contact_fact_customer ON rm_contact_fact (customer_id, occurred_at);
CREATE INDEX IF NOT EXISTS rm_contact_fact_time ON rm_contact_fact (occurred_at);

-- The facts summed per local day, channel, reason and tier: what the metrics endpoints read.
CREATE TABLE IF NOT EXISTS rm_contact_daily (
    day           TEXT NOT NULL,
    channel       TEXT NOT NULL,
    reason        TEXT NOT NULL,
    tier          TEXT NOT NULL,
    contacts      BIGINT NOT NULL,
    inbound       BIGINT NOT NULL,
    handled       BIGINT NOT NULL,
    handled_s     BIGINT NOT NULL,
    issues        BIGINT NOT NULL,
    fcr           BIGINT NOT NULL,
    repeated      BIGINT NOT NULL,
    self_service  BIGINT NOT NULL,
    contained     BIGINT NOT NULL,
    assisted      BIGINT NOT NULL,
    PRIMARY KEY (day, channel, reason, tier)
);

-- Complaint quality needs each complaint's first resolution (net of pending time) and
-- whether it met the time limit. The complaint read model gains these columns and is
-- rebuilt from the log: it now tracks itself as `complaint_view.v2`, which starts at
-- position 0, so its rows are emptied here.
ALTER TABLE rm_complaint ADD COLUMN first_resolved_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN first_resolution_s DOUBLE PRECISION;
ALTER TABLE rm_complaint ADD COLUMN first_sla_met INTEGER;
DELETE FROM rm_complaint;
DELETE FROM rm_complaint_event;
CREATE INDEX IF NOT EXISTS rm_complaint_opened ON rm_complaint (opened_at);

-- Journey metrics by tier need the tier each order was placed at. The journey read model
-- gains the column and is rebuilt from the log as `journey_view.v2` (it reads the tier
-- history above, so it waits for this read model: `reads_from`).
ALTER TABLE rm_order_journey ADD COLUMN tier TEXT;
DELETE FROM rm_order_journey;
