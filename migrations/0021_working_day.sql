-- The clerk's working day (issue 20): SLA clocks in working time, a first-response clock, and the
-- follow-up call (回访).
--
-- Every calendar a complaint has pinned, by id (its name and a digest of its content:
-- domain/calendar.py). Written when a process starts with a policy that names it, before any
-- complaint pins it; read by every process that meets the id (adapters/store/calendars.py). Rows
-- are never changed: a calendar with another year is another id.
CREATE TABLE IF NOT EXISTS sla_calendar (
    calendar_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    document    TEXT NOT NULL,
    stored_at   TEXT NOT NULL
);

-- The complaint read model's new columns. Complaints opened before this release were opened
-- without a first-response clock or a follow-up call, in calendar time, which is what the
-- empty columns say, so the model needs no rebuild.
ALTER TABLE rm_complaint ADD COLUMN sla_calendar TEXT;
ALTER TABLE rm_complaint ADD COLUMN fr_allowance_s BIGINT;
ALTER TABLE rm_complaint ADD COLUMN fr_warning_s BIGINT;
ALTER TABLE rm_complaint ADD COLUMN fr_calendar TEXT;
ALTER TABLE rm_complaint ADD COLUMN fr_stopped_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN fr_warned BIGINT;
ALTER TABLE rm_complaint ADD COLUMN fr_breached BIGINT;
ALTER TABLE rm_complaint ADD COLUMN fr_deadline_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN fr_warning_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN followup_s BIGINT;
ALTER TABLE rm_complaint ADD COLUMN followup_calendar TEXT;
ALTER TABLE rm_complaint ADD COLUMN followup_required BIGINT;
ALTER TABLE rm_complaint ADD COLUMN last_resolved_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN followed_up_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN followup_due_at TEXT;
ALTER TABLE rm_complaint ADD COLUMN paused_wall_s DOUBLE PRECISION;
-- As a rebuild writes them: every clock stored so far counts calendar time (its pauses in wall-clock
-- seconds are its pauses), its latest resolution is `resolved_at` (a reopening clears both), and its
-- follow-up since then is the first `complaint.followed_up` after the latest `complaint.resolved`.
UPDATE rm_complaint SET sla_calendar = 'calendar-time', followup_calendar = 'calendar-time', followup_required = 0,
    paused_wall_s = paused_s, last_resolved_at = resolved_at;
UPDATE rm_complaint SET followed_up_at = (
    SELECT f.occurred_at FROM rm_complaint_event f
    WHERE f.complaint_id = rm_complaint.complaint_id AND f.type = 'complaint.followed_up'
      AND f.position > (SELECT MAX(r.position) FROM rm_complaint_event r
                        WHERE r.complaint_id = rm_complaint.complaint_id AND r.type = 'complaint.resolved')
    ORDER BY f.position LIMIT 1
) WHERE last_resolved_at IS NOT NULL;
-- A duplicate complaint's primary (complaint.linked, a new type: no row has one yet).
ALTER TABLE rm_complaint ADD COLUMN primary_id TEXT;
CREATE INDEX IF NOT EXISTS rm_complaint_primary ON rm_complaint (primary_id);
CREATE INDEX IF NOT EXISTS rm_complaint_fr_deadline ON rm_complaint (fr_deadline_at);
CREATE INDEX IF NOT EXISTS rm_complaint_followup_due ON rm_complaint (followup_due_at);

-- SLA events now name their clock (`metric`); those recorded before were the resolution clock's.
-- The history's details are written as a rebuild would write them (metric first).
UPDATE rm_complaint_event SET details = '{"metric":"resolution",' || substr(details, 2)
    WHERE type IN ('complaint.sla_warning', 'complaint.sla_breached') AND substr(details, 1, 9) <> '{"metric"';

-- Contact metrics per site (and per agent, `handled_by`, already there): each contact's fact
-- gains the touchpoint's site, filled here for the contacts counted before.
ALTER TABLE rm_contact_fact ADD COLUMN site TEXT;
UPDATE rm_contact_fact SET site = (
    SELECT c.site FROM rm_contact c WHERE c.customer_id = rm_contact_fact.customer_id AND c.event_id = rm_contact_fact.event_id
);
CREATE INDEX IF NOT EXISTS rm_contact_fact_handler ON rm_contact_fact (handled_by, occurred_at);
