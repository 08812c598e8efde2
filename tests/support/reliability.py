"""Figures the fault tests measure, kept for the README's reliability table.

Each fault test writes what it sent, what was acknowledged and what the log then held to
`test-artifacts/reliability/<test>.json` (git-ignored); `./dev test tests/e2e/test_faults.py`
refreshes them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

REPORT_DIR = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability"


def record_outcome(test: str, **figures: Any) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{test}.json").write_bytes(
        orjson.dumps(figures, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    )
