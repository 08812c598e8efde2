"""The static checks, run with the tests so CI runs them: lint, types and the layers.

Each runs the tool from the project's virtual environment over the whole tree and fails
with its own report: ruff (lint and import order), mypy (strict on domain and services,
pyproject.toml [tool.mypy]) and import-linter (the layers and the independence of the API
and the pages, pyproject.toml [tool.importlinter]).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*command: str) -> None:
    tool = BIN / command[0]
    if not tool.exists():
        pytest.fail(f"{command[0]} is not installed in {BIN}: run ./dev test (it installs the test extras)")
    done = subprocess.run([str(tool), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def test_ruff_finds_nothing() -> None:
    run("ruff", "check", "--no-cache", "src", "tests", "bench", "scripts")


def test_mypy_finds_nothing() -> None:
    run("mypy")


def test_the_import_contracts_hold() -> None:
    run("lint-imports", "--no-cache")
