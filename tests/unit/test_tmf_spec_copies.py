"""The TM Forum files the conformance tests use are TM Forum's, unchanged (tests/tmf/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1] / "tmf"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "tmf"


@pytest.mark.parametrize("name", ["TMF621-TroubleTicket-v4.0.0.swagger.json", "TMF683-PartyInteraction-v4.0.0.swagger.json"])
def test_the_copies_are_the_official_files(name: str) -> None:
    if not (SHARED / name).exists():
        pytest.skip("../shared/tmf/ is not beside this checkout")
    assert (HERE / name).read_bytes() == (SHARED / name).read_bytes()
