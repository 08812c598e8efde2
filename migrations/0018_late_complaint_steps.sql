-- Late references for complaints (issue 18): a complaint step that comes before complaint.opened is
-- recorded, kept on the customer until the complaint is opened, then linked (the same step recorded
-- again after the opening) or listed as a conflict (complaint.conflict; docs/events.md §3.15). Both
-- tables belong to the complaint view (projections/complaint_view.py), which alone knows which
-- complaints are open; GET /v1/conflicts serves them with the orders' (0017).
CREATE TABLE IF NOT EXISTS rm_complaint_pending_step (
    event_id     TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL,
    complaint_id TEXT NOT NULL,
    step_type    TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    position     BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_complaint_pending_step_complaint ON rm_complaint_pending_step (complaint_id);
CREATE INDEX IF NOT EXISTS rm_complaint_pending_step_recorded ON rm_complaint_pending_step (recorded_at);

CREATE TABLE IF NOT EXISTS rm_complaint_conflict (
    event_id      TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    complaint_id  TEXT NOT NULL,
    step_event_id TEXT NOT NULL,
    step_type     TEXT NOT NULL,
    reason        TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    position      BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_complaint_conflict_recorded ON rm_complaint_conflict (recorded_at);
