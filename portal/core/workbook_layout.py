"""Where the table is in an uploaded workbook (表头定位): the sheet and the header row.

People send the template the way their office saves it: an empty first row, a merged title
row above the header, a two-level header (group titles above, some column names merged down
across both rows), the data on a sheet not named as the template's. So the header is looked
for in the first `scan_rows` rows of every worksheet, the preferred sheet (the template's
name) first, then the others in workbook order; a row is the header when it names every
required column, or when it does together with the row above it (a two-level header: a
column's name is its cell in the lower row, else the one above). The first such row wins and
the data starts below it.

When none is found the refusal says which sheets were looked at, which row came closest
and which required columns it lacks.

`open_checked()` opens the workbook for that: the .xlsx's sheet extents are checked first
(portal.core.workbook_extent), each sheet once more after it is loaded. No Flask here: this runs
in the reading process (portal.core.child_process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, islice, zip_longest
from pathlib import Path

from python_calamine import CalamineError, SheetTypeEnum, load_workbook

from portal.core.workbook_extent import Limits, WorkbookRejected, check_loaded, check_xlsx

ZIP_MAGIC = b"PK\x03\x04"
# header row → (column key → index, the required columns' names that are missing)
Matcher = Callable[[list], tuple[dict[str, int], list[str]]]


@dataclass
class Table:
    sheet: str
    header_row: int  # the (lower) header row's number in Excel, 1-based
    columns: dict[str, int]  # column key → index in a row
    width: int  # the header's width: rows are padded to it
    last_row: int  # the sheet's last used row number (the data rows are below the header)
    rows: Iterator[list]  # the rows below the header, from header_row + 1 on


def open_checked(path: Path, limits: Limits):
    """(worksheet names, open(name) → loaded sheet), every sheet within `limits`."""
    with path.open("rb") as fh:
        is_xlsx = fh.read(4) == ZIP_MAGIC
    if is_xlsx:
        check_xlsx(path, limits)  # before calamine allocates anything
    try:
        book = load_workbook(str(path))
    except CalamineError as exc:
        raise WorkbookRejected("无法读取工作簿，文件可能已损坏") from exc
    names = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet] or list(
        book.sheet_names
    )

    def open_sheet(name: str):
        try:
            sheet = book.get_sheet_by_name(name)
        except CalamineError as exc:
            raise WorkbookRejected(f"无法读取工作表“{name}”，文件可能已损坏") from exc
        check_loaded(sheet, limits)  # an .xls, or an .xlsx whose dimension lied
        return sheet

    return names, open_sheet


def _stacked(upper: list, lower: list) -> list:
    """A two-level header's column names: the lower row's cell, else the one above it."""
    return [lo if str(lo).strip() else up for up, lo in zip_longest(upper, lower, fillvalue="")]


@dataclass
class _Closest:
    found: int
    sheet: str
    rows: str
    missing: list[str]


def find_table(
    path: Path,
    limits: Limits,
    preferred: str | None,
    match: Matcher,
    scan_rows: int,
    hint: str,
) -> Table:
    """The first sheet (`preferred` first) whose first `scan_rows` rows hold the header;
    else a refusal saying what was looked at and what is missing, then `hint`."""
    names, open_sheet = open_checked(path, limits)
    order = sorted(names, key=lambda n: n != preferred)  # stable: workbook order otherwise
    closest: _Closest | None = None
    empty: list[str] = []  # sheets whose first rows are empty
    below: list[str] = []  # …and where their content starts further down
    for name in order:
        sheet = open_sheet(name)
        rows = sheet.iter_rows()
        head = list(islice(rows, scan_rows))
        if not any(any(str(v).strip() for v in row) for row in head):
            empty.append(name)
            if sheet.start is not None and sheet.start[0] >= scan_rows:
                below.append(f"工作表“{name}”的内容从第 {sheet.start[0] + 1} 行开始")
            continue
        above: list | None = None
        for i, row in enumerate(head):
            tries = [(row, f"第 {i + 1} 行")]
            if above is not None and any(str(v).strip() for v in above):
                tries.append((_stacked(above, row), f"第 {i}–{i + 1} 行"))
            for candidate, where in tries:
                columns, missing = match(candidate)
                if not missing:
                    end = sheet.end
                    return Table(
                        sheet=name,
                        header_row=i + 1,
                        columns=columns,
                        width=len(candidate),
                        last_row=end[0] + 1 if end else i + 1,
                        rows=chain(head[i + 1 :], rows),
                    )
                if closest is None or len(columns) > closest.found:
                    closest = _Closest(len(columns), name, where, missing)
            above = row
        del sheet, rows, head
    raise WorkbookRejected(_not_found(order, empty, below, closest, scan_rows, hint))


def _quoted(names: list[str]) -> str:
    return "、".join(f"“{n}”" for n in names)


def _not_found(
    looked: list[str],
    empty: list[str],
    below: list[str],
    closest: _Closest | None,
    n: int,
    hint: str,
) -> str:
    if closest is None and not below:
        return f"文件没有内容：工作表{_quoted(looked)}都是空的"
    where = f"已查看工作表{_quoted(looked)}的前 {n} 行" + (
        f"（{_quoted(empty)}为空）" if empty and closest is not None else ""
    )
    if closest is None:
        return f"未找到表头：{where}，都是空的；表头须在前 {n} 行内（{'；'.join(below)}）"
    if closest.found == 0:
        return (
            f"未找到表头：{where}，没有一行含有所需的列名（{'、'.join(closest.missing)}）。{hint}"
        )
    return (
        f"未找到表头：{where}，最接近的是工作表“{closest.sheet}”{closest.rows}，"
        f"缺少列：{'、'.join(closest.missing)}。{hint}"
    )
