"""The operator's sites (stores, call-centre floors) and who works at each: the staff directory.

Pure. Read from a document (`CONTACTHUB_SITES`, a TOML file; see docs/complaints.md) by
`StaffDirectory.from_mapping`, which names the first problem. It answers three questions:
which site a staff id works at (a store clerk's "my store" queue, the site of a visit logged at
the desk), who supervises a site (an SLA breach action's "site-supervisor"), and who works there.

A site's `name` is what channels write in a touchpoint's `site` (e.g. 天河营业厅).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_STAFF = re.compile(r"[^\s]{1,64}")


@dataclass(frozen=True)
class Site:
    name: str
    supervisor: str
    staff: tuple[str, ...]


@dataclass(frozen=True)
class StaffDirectory:
    sites: tuple[Site, ...] = ()
    _by_staff: dict[str, Site] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for site in self.sites:
            for person in (*site.staff, site.supervisor):
                self._by_staff.setdefault(person, site)

    def site_of(self, staff: str) -> Site | None:
        return self._by_staff.get(staff)

    def supervisor_of(self, staff: str) -> str | None:
        """The supervisor of the site `staff` works at; None when the directory does not know them."""
        site = self.site_of(staff)
        return None if site is None else site.supervisor

    def colleagues(self, staff: str) -> tuple[str, ...]:
        """Everyone at `staff`'s site, the supervisor included ("my store"); () when unknown."""
        site = self.site_of(staff)
        return () if site is None else (*site.staff, site.supervisor)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StaffDirectory:
        """Read a directory document: `[[site]]` tables with name, supervisor and staff; a ValueError names the first problem."""
        unknown = set(data) - {"site"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown setting (a directory is a list of [[site]] tables)")
        items = data.get("site", [])
        if not isinstance(items, list):
            raise ValueError("site: must be a list of [[site]] tables")
        sites: list[Site] = []
        seen: dict[str, str] = {}
        for n, item in enumerate(items):
            where = f"site[{n}]"
            if not isinstance(item, Mapping):
                raise ValueError(f"{where}: must be a table")
            extra = set(item) - {"name", "supervisor", "staff"}
            if extra:
                raise ValueError(f"{where}.{sorted(extra)[0]}: unknown setting (name, supervisor, staff)")
            name = item.get("name")
            if not isinstance(name, str) or not name.strip() or len(name) > 200:
                raise ValueError(f"{where}.name: must be the site's name as channels write it")
            supervisor = item.get("supervisor")
            if not isinstance(supervisor, str) or not _STAFF.fullmatch(supervisor):
                raise ValueError(f"{where}.supervisor: must be a staff id (no spaces, at most 64 characters)")
            staff = item.get("staff", [])
            if not isinstance(staff, list) or not all(isinstance(s, str) and _STAFF.fullmatch(s) for s in staff):
                raise ValueError(f"{where}.staff: must be a list of staff ids")
            for person in (*staff, supervisor):
                if person in seen and seen[person] != name:
                    raise ValueError(f"{where}: {person} already works at {seen[person]}")
                seen[person] = name
            if name in {s.name for s in sites}:
                raise ValueError(f"{where}.name: {name} is listed twice")
            sites.append(Site(name.strip(), supervisor, tuple(staff)))
        return cls(tuple(sites))


NO_SITES = StaffDirectory()
