"""CSV exports of the work queues and the metrics: `?format=csv` or `Accept: text/csv`.

An answer's tables become rows: every list of objects in it (a queue's `items`, the metrics'
`days`, `by_channel`, ...) gives one row per object, and a `totals` object one row; the
first column, `table`, says which. Nested fields are flattened with dots (`sla.state`),
lists of values joined with `|`; text that a spreadsheet would run as a formula (starting with
= + - @) gets a leading `'`. The file starts with a UTF-8 byte-order mark, so a
spreadsheet opened on a Chinese Windows desktop reads 营业厅 as such, not as mojibake.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import orjson
from fastapi import Query, Request
from starlette.responses import Response

Format = Annotated[Literal["json", "csv"] | None, Query(
    alias="format", description="`csv` for a spreadsheet (also `Accept: text/csv`); default JSON")]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "JSON, or CSV with `format=csv` or `Accept: text/csv`"},
}
"""Merged into a route's `responses`: its answer may also be CSV."""


def wants_csv(request: Request, given: str | None) -> bool:
    if given is not None:
        return given == "csv"
    accept = request.headers.get("accept", "")
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return bool(kinds) and kinds[0] == "text/csv"


def _flat(value: Any, prefix: str, into: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flat(inner, f"{prefix}.{key}" if prefix else str(key), into)
    elif isinstance(value, list):
        if all(not isinstance(v, (Mapping, list)) for v in value):
            into[prefix] = "|".join("" if v is None else str(v) for v in value)
        else:
            into[prefix] = orjson.dumps(value).decode()
    else:
        into[prefix] = value


def table_rows(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The answer's tables as flat rows, each with its table's name first."""
    rows: list[dict[str, Any]] = []
    if isinstance(answer.get("totals"), Mapping):
        row: dict[str, Any] = {"table": "totals"}
        _flat(answer["totals"], "", row)
        rows.append(row)
    for name, value in answer.items():
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for item in value:
                row = {"table": name}
                _flat(item, "", row)
                rows.append(row)
    return rows


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    rows = list(rows)
    columns: dict[str, None] = {"table": None}
    for row in rows:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return "\ufeff" + out.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """What a cell holds. Text a spreadsheet would run as a formula (a customer's complaint summary
    starting with `=`) is written with a leading `'`, which spreadsheets show as text; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_answer(answer: Mapping[str, Any], name: str) -> Response:
    """The answer as a CSV download named `<name>.csv`; the read's log position in a header."""
    headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
    if "position" in answer:
        headers["X-ContactHub-Position"] = str(answer["position"])
    return Response(csv_text(table_rows(answer)).encode("utf-8"), media_type=CSV_MEDIA_TYPE, headers=headers)


def maybe_csv(request: Request, given: str | None, answer: Mapping[str, Any], name: str) -> Any:
    return csv_answer(answer, name) if wants_csv(request, given) else answer
