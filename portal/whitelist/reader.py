"""Reading and validating a whitelist sheet, in a reading process of its own.

`read_sheet()` finds the table (portal.core.workbook_layout: the sheet's extent checked before
anything is parsed, the header row looked for in the first rows of every sheet), checks
the row cap and streams the rows through the validator, yielding messages:

* ``("total", n)`` once the sheet is parsed (rows below the header, for the progress bar
  and bulk mode);
* ``("chunk", staged, errors, n_rows, n_err)`` per `chunk` valid rows (and once at the end):
  the validated staging tuples, the refused rows for the error report (until its cap), and
  the running counts.

A whole-file refusal raises :class:`ImportRejected` with its Chinese message.

Every workbook, whatever its size, is read in a **second process** (`messages()`, through
portal.core.child_process): a plain interpreter that imports only what reading needs (no Flask,
nothing of the worker's memory or connections), with a memory limit, so a hostile file
ends that process and fails its import, never the worker. It also parses and validates
while the import's process writes (calamine holds the whole parsed sheet, ≈ 775 MB for a
million rows, and validating takes as long as the database work: in one process the two
took turns on the GIL); its memory is returned when it ends. If it dies, the import fails
and nothing is written; if the import's process dies, the reading process is killed with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from portal.core import child_process
from portal.core.workbook_extent import Limits, WorkbookRejected
from portal.core.workbook_layout import find_table
from portal.whitelist.columns import COLUMNS, SHEET, header_map
from portal.whitelist.rows import Context, RowValidator

HINT = "表头与模板不一致：请使用下载的模板填写，或把表头改成模板的列名"


class ImportRejected(WorkbookRejected):
    """The whole file was refused (Chinese message); nothing was written."""


def read_sheet(
    path: Path,
    ctx: Context,
    limits: Limits,
    scan_rows: int,
    cap: int,
    report_cap: int,
    chunk: int,
) -> Iterator[tuple]:
    try:
        table = find_table(path, limits, SHEET, header_map, scan_rows, HINT)
    except WorkbookRejected as exc:
        raise ImportRejected(str(exc)) from None
    total = max(table.last_row - table.header_row, 0)
    if total > cap:
        raise ImportRejected(f"文件共 {total:,} 行，超过单次导入上限 {cap:,} 行，请拆分后上传")
    yield ("total", total)
    order = [table.columns.get(c.key) for c in COLUMNS]
    validate = RowValidator(ctx).validate
    width = table.width
    identity = width == len(order) and order == list(range(len(order)))
    buf: list[tuple] = []
    errors: list[tuple[int, list, dict]] = []
    n_rows = n_err = reported = 0
    for row_no, raw in enumerate(table.rows, start=table.header_row + 1):
        if len(raw) < width:
            raw = [*raw, *([""] * (width - len(raw)))]
        values = raw if identity else [raw[i] if i is not None else "" for i in order]
        if not any(values) and all(v == "" or v is None for v in values):
            continue
        n_rows += 1
        if n_rows > cap:
            raise ImportRejected(f"文件超过单次导入上限 {cap:,} 行，请拆分后上传")
        staged, errs = validate(row_no, values)
        if staged is not None:
            buf.append(staged)
        else:
            n_err += 1
            if reported < report_cap:
                reported += 1
                errors.append((row_no, values, errs))
        if len(buf) >= chunk or n_rows % chunk == 0:
            yield ("chunk", buf, errors, n_rows, n_err)
            buf, errors = [], []
    yield ("chunk", buf, errors, n_rows, n_err)


def messages(
    path: Path,
    ctx: Context,
    limits: Limits,
    scan_rows: int,
    cap: int,
    report_cap: int,
    chunk: int,
    max_memory_mb: int,
) -> Iterator[tuple]:
    """read_sheet()'s messages, computed in a reading process limited to `max_memory_mb`."""
    args = (path, ctx, limits, scan_rows, cap, report_cap, chunk)
    return child_process.messages(read_sheet, args, max_memory_mb)
