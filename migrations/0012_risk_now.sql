-- The at-risk list "now" (GET /v1/customers/at-risk without as_of), kept by the risk watcher
-- (services/risk_watch.py, projections/risk_queries.py): derived data, replaced whole in one
-- transaction at each refresh, never served once stale or counted from read models since
-- rebuilt (docs/metrics.md, "Churn-risk signals"). Not a projection's table: the projector
-- neither writes nor resets it.

-- One row per customer at risk at the head's moment: the evidence counted over the window
-- before it and how many rules fire (as the live count judges them).
CREATE TABLE IF NOT EXISTS rm_risk_now (
    customer_id          TEXT PRIMARY KEY,
    tier                 TEXT NOT NULL,
    complaints           BIGINT NOT NULL,
    sla_breaches         BIGINT NOT NULL,
    unresolved_contacts  BIGINT NOT NULL,
    service_calls        BIGINT NOT NULL,
    flags                BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_risk_now_order ON rm_risk_now (flags DESC, customer_id);

-- How many rows each filter of the list matches: per tier and rule ('*' for any), counted at
-- the refresh, so a page is read along the index and its total is not counted per request.
CREATE TABLE IF NOT EXISTS rm_risk_now_totals (
    tier       TEXT NOT NULL,
    rule       TEXT NOT NULL,
    customers  BIGINT NOT NULL,
    PRIMARY KEY (tier, rule)
);

-- At most one row: the moment counted for (UTC text), the log position the read models had
-- applied before counting, the rule book it was judged with (a digest), how many rows.
CREATE TABLE IF NOT EXISTS rm_risk_now_head (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    as_of      TEXT NOT NULL,
    position   BIGINT NOT NULL,
    basis      TEXT NOT NULL,
    customers  BIGINT NOT NULL
);
