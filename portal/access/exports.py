"""Exports (导出): masked by default, formula-safe, scoped, audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from portal.access import audit

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Prefix a quote to text that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> tuple[bytes, int]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        count += 1
    # UTF-8 with BOM so Excel on Windows opens Chinese correctly
    return ("\ufeff" + buf.getvalue()).encode("utf-8"), count


def audit_export(session: Session, what: str, count: int) -> None:
    audit.record(session, "export", what, None, {"rows": count})
    session.commit()
