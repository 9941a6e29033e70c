"""Reading a blacklist (黑名单) workbook, in a reading process of its own.

The same defences as the whitelist's (docs/security.md, "Uploaded workbooks"): the sheets'
extent checked before anything is parsed, the header found in the first rows of any sheet,
and the parse done by portal.core.child_process in a memory-capped child, so a hostile file
cannot end the web process that received it. No Flask here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from portal.core import child_process
from portal.core.workbook_extent import Limits
from portal.core.workbook_layout import find_table
from portal.whitelist.columns import normalize_header

COLUMNS = {"身份证号": "id_number", "姓名": "name", "原因": "reason"}
REQUIRED = ("身份证号", "原因")
HINT = "表头须包含“身份证号”“原因”两列（可选“姓名”）"
CHUNK = 5000


def header_map(row: list) -> tuple[dict[str, int], list[str]]:
    found: dict[str, int] = {}
    for i, cell in enumerate(row):
        key = COLUMNS.get(normalize_header(cell))
        if key and key not in found:
            found[key] = i
    return found, [h for h in REQUIRED if COLUMNS[h] not in found]


def read_rows(path: Path, limits: Limits, scan_rows: int) -> Iterator[list]:
    """Chunks of (row number, ID number, name or None, reason) as read, blank rows skipped."""
    table = find_table(path, limits, None, header_map, scan_rows, HINT)
    i_id, i_reason = table.columns["id_number"], table.columns["reason"]
    i_name = table.columns.get("name")
    out: list[tuple] = []
    for row_no, row in enumerate(table.rows, start=table.header_row + 1):
        if not any(str(c).strip() for c in row):
            continue
        row = [*row, *([""] * (table.width - len(row)))]
        name = row[i_name] if i_name is not None else None
        out.append((row_no, row[i_id], name, row[i_reason]))
        if len(out) >= CHUNK:
            yield out
            out = []
    yield out


def rows(path: Path, limits: Limits, scan_rows: int, max_memory_mb: int) -> Iterator[tuple]:
    """read_rows() in a reading process limited to `max_memory_mb`, row by row."""
    for chunk in child_process.messages(read_rows, (path, limits, scan_rows), max_memory_mb):
        yield from chunk
