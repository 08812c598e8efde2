-- Read model: complaints (projections/complaint_view.py owns these tables).
-- rm_complaint moves from the customer view to a read model of its own, with the SLA
-- clock and ownership; a new read model starts at position 0, so it is rebuilt from the
-- log by the projector. Times are ISO 8601 text in UTC, as everywhere in read models.

DROP TABLE IF EXISTS rm_complaint;

CREATE TABLE rm_complaint (
    complaint_id      TEXT PRIMARY KEY,
    customer_id       TEXT NOT NULL,
    status            TEXT NOT NULL,
    category          TEXT NOT NULL,
    severity          TEXT NOT NULL,
    tier              TEXT,
    summary           TEXT NOT NULL,
    channel           TEXT NOT NULL,
    owner             TEXT NOT NULL,
    owners            TEXT NOT NULL,
    opened_at         TEXT NOT NULL,
    last_changed_at   TEXT NOT NULL,
    escalation_level  INTEGER NOT NULL,
    reopen_count      INTEGER NOT NULL,
    satisfaction      INTEGER,
    resolved_at       TEXT,
    resolution        TEXT,
    closed_at         TEXT,
    sla_policy        TEXT NOT NULL,
    clock_no          INTEGER NOT NULL,
    clock_started_at  TEXT NOT NULL,
    allowance_s       BIGINT NOT NULL,
    warning_s         BIGINT NOT NULL,
    paused_s          DOUBLE PRECISION NOT NULL,
    paused_since      TEXT,
    stopped_at        TEXT,
    warned            INTEGER NOT NULL,
    breached          INTEGER NOT NULL,
    deadline_at       TEXT,
    warning_at        TEXT
);
CREATE INDEX rm_complaint_customer ON rm_complaint (customer_id, status);
CREATE INDEX rm_complaint_queue ON rm_complaint (status, opened_at);
CREATE INDEX rm_complaint_owner ON rm_complaint (owner, opened_at);
CREATE INDEX rm_complaint_deadline ON rm_complaint (deadline_at);

CREATE TABLE rm_complaint_event (
    position      BIGINT PRIMARY KEY,
    complaint_id  TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    type          TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    recorded_at   TEXT NOT NULL,
    by_whom       TEXT,
    channel       TEXT,
    status_before TEXT,
    status_after  TEXT NOT NULL,
    owner_before  TEXT,
    owner_after   TEXT NOT NULL,
    reason        TEXT,
    details       TEXT NOT NULL
);
CREATE INDEX rm_complaint_event_complaint ON rm_complaint_event (complaint_id, position);

CREATE INDEX IF NOT EXISTS rm_contact_complaint ON rm_contact (complaint_id);
