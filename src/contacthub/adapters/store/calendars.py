"""The SLA calendars complaints have pinned, kept in the database by id (migration 0021).

A complaint records the id of the calendar its clocks count in (`cn-national@<digest>`), so a
process that meets an id must find the same calendar whatever calendar file it was started
with: every process stores the calendar of its policy when it starts, and looks up any other
id here (`domain.calendar.use_calendar_source`). A row is never changed; the id's digest
covers the whole document, so a row can be checked against its id.
"""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from contacthub.domain.calendar import WorkingCalendar
from contacthub.projections.sql import ReadStore


class CalendarTable:
    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def keep(self, calendar: WorkingCalendar) -> None:
        """Store the calendar under its id, once (a second process storing the same one changes nothing)."""
        document = orjson.dumps(calendar.document(), option=orjson.OPT_SORT_KEYS).decode()
        with self.store.transaction(commit=True) as sql:
            sql.execute(
                "INSERT INTO sla_calendar (calendar_id, name, document, stored_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (calendar_id) DO NOTHING",
                (calendar.id, calendar.name, document, datetime.now(timezone.utc).isoformat()),
            )

    def find(self, calendar_id: str) -> WorkingCalendar | None:
        row = self.store.query_one("SELECT document FROM sla_calendar WHERE calendar_id = ?", (calendar_id,))
        if row is None:
            return None
        found = WorkingCalendar.from_mapping(orjson.loads(row["document"]))
        return found if found.id == calendar_id else None

    def ids(self) -> list[str]:
        return [r["calendar_id"] for r in self.store.query("SELECT calendar_id FROM sla_calendar ORDER BY calendar_id")]
