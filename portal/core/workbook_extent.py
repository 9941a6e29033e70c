"""The real extent of an uploaded workbook's sheets, read before any parser allocates.

An Excel reader builds a sheet as one dense grid from its top-left to its bottom-right cell:
a 5 KB .xlsx with a single extra cell at ``XFD1048576`` asks python-calamine for ≈ 550 GB
and aborts the process (a cell at ``Z1048576`` costs 845 MB). So before a sheet is parsed:

* a sheet whose XML is at most ``scan_max_bytes`` long is scanned cell by cell (a streaming
  expat parse: the ``r`` attributes of ``<row>`` and ``<c>``, or the running position where
  they are missing, as the reader counts them), so no ``<dimension>`` that lies, or none at
  all, hides a far cell;
* a larger sheet is judged by its ``<dimension ref>`` (what Excel and WPS write: the used
  range), read from the head of its XML (streamed, nothing else of the sheet is inflated),
  and the reading process's memory limit (portal.core.child_process) stops one that lies.

A sheet beyond the limits is refused with :class:`WorkbookRejected` and a Chinese message
naming the sheet and its range. Legacy .xls (BIFF8: at most 65,536 × 256 cells in the
format) is judged after calamine loaded it, inside the memory-limited reading process
(:func:`check_loaded`). No Flask here: the reading process imports this module.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.parsers import expat

from defusedxml import ElementTree as SafeET

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")


class WorkbookRejected(ValueError):
    """The whole workbook was refused (Chinese message); nothing was written."""


@dataclass(frozen=True)
class Limits:
    """How large a sheet may be: rows and columns counted from A1 (what the reader allocates)."""

    max_rows: int
    max_columns: int
    scan_max_bytes: int


@dataclass(frozen=True)
class Extent:
    sheet: str
    rows: int  # the last used row, 1-based (0: empty)
    columns: int  # the last used column, 1-based
    declared: bool  # from <dimension> only (the sheet was too large to scan)


def column_letters(n: int) -> str:
    out = ""
    while n > 0:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _ref(text: str) -> tuple[int, int] | None:
    """(row, column), 1-based, of a cell reference such as ``XFD1048576``; None if malformed."""
    m = _REF.fullmatch(text.strip())
    if m is None:
        return None
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col


def _too_far() -> tuple[int, int]:
    """A reference longer than any real one (``AAAA1``, a 9-digit row): treat as beyond every
    limit rather than as harmless."""
    return 1 << 31, 1 << 31


def _sheet_parts(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, zip member) of every worksheet, in workbook order; parts that no sheet
    names are listed under their file name (a reader may still find them)."""
    names = {i.filename for i in zf.infolist()}
    found: list[tuple[str, str]] = []
    try:
        book = SafeET.fromstring(zf.read("xl/workbook.xml"))
        rels = SafeET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
        targets = {
            r.get("Id"): r.get("Target", "") for r in rels.iter(f"{{{PKG_REL_NS}}}Relationship")
        }
        for sheet in book.iter(f"{{{MAIN_NS}}}sheet"):
            target = targets.get(sheet.get(f"{{{REL_NS}}}id"), "")
            member = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join("xl", target))
            )
            if member in names:
                found.append((sheet.get("name") or member, member))
    except (KeyError, SafeET.ParseError):
        pass  # no workbook part or relationships: the worksheet parts below still count
    listed = {m for _n, m in found}
    for name in sorted(names):
        if name.startswith("xl/worksheets/") and name.endswith(".xml") and name not in listed:
            found.append((posixpath.basename(name), name))
    return found


def _declared(zf: zipfile.ZipFile, member: str) -> tuple[int, int] | None:
    """The sheet's <dimension ref> (its last cell), read from the head of its XML; None when
    there is none or it cannot be read (LibreOffice may write a row range such as ``1:233``:
    its rows count, its columns are unknown)."""
    with zf.open(member) as stream:
        for _event, elem in SafeET.iterparse(stream, events=("start",)):
            tag = elem.tag.rsplit("}", 1)[-1]
            if tag == "dimension":
                last = (elem.get("ref") or "").split(":")[-1].strip().replace("$", "")
                if last.isdigit() and len(last) < 10:
                    return int(last), 0
                return _ref(last)
            if tag == "sheetData":
                return None  # the dimension, when there is one, comes before the cells
    return None


class _Scan:
    """expat callbacks: the last row and column that hold a cell, from the ``r`` attributes
    of <row> and <c>, or the running position where one is missing (as a reader counts)."""

    def __init__(self) -> None:
        self.row = self.col = self.max_row = self.max_col = 0

    def start(self, tag: str, attrs: dict) -> None:
        if tag.endswith("}c") or tag == "c":
            ref = attrs.get("r")
            if ref:
                row, col = _ref(ref) or _too_far()
            else:
                row, col = self.row or 1, self.col + 1
            self.col = col
            if row > self.max_row:
                self.max_row = row
            if col > self.max_col:
                self.max_col = col
        elif tag.endswith("}row") or tag == "row":
            ref = attrs.get("r")
            if ref is None:
                self.row += 1
            else:
                self.row = int(ref) if ref.isdigit() and len(ref) < 10 else 1 << 31
            self.col = 0


def _scanned(zf: zipfile.ZipFile, member: str) -> tuple[int, int]:
    """The last row and column that hold a cell, from every <row> and <c> of the sheet."""

    def refuse(*_args) -> None:  # what defusedxml refuses: no DTD, no entity declarations
        raise WorkbookRejected("工作簿包含 XML 实体声明（疑似 XML 炸弹），已拒绝")

    scan = _Scan()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartElementHandler = scan.start
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        with zf.open(member) as stream:
            parser.ParseFile(stream)
    except expat.ExpatError as exc:
        raise WorkbookRejected(f"工作簿内部 XML 损坏（{member}）") from exc
    return scan.max_row, scan.max_col


def xlsx_extents(path: Path, scan_max_bytes: int) -> list[Extent]:
    """The extent of every worksheet of an .xlsx: from its cells when it is small enough to
    scan (what the reader allocates for), else from its <dimension>."""
    out = []
    with zipfile.ZipFile(path) as zf:
        for name, member in _sheet_parts(zf):
            if zf.getinfo(member).file_size <= scan_max_bytes:
                rows, cols = _scanned(zf, member)
                out.append(Extent(name, rows, cols, declared=False))
            else:
                rows, cols = _declared(zf, member) or (0, 0)
                out.append(Extent(name, rows, cols, declared=True))
    return out


def refuse_if_absurd(extent: Extent, limits: Limits) -> None:
    if extent.rows <= limits.max_rows and extent.columns <= limits.max_columns:
        return
    last = (
        f"{column_letters(extent.columns)}{extent.rows}"
        if extent.rows < 1 << 31 and extent.columns < 1 << 31
        else "（无效的单元格地址）"
    )
    raise WorkbookRejected(
        f"工作表“{extent.sheet}”的使用范围到 {last} 为止"
        f"（{extent.rows:,} 行 × {extent.columns:,} 列），超出允许的"
        f" {limits.max_rows:,} 行、{limits.max_columns} 列。"
        "请删除表格下方或右侧多余的行、列（包括看似空白但有内容或格式的单元格），"
        "或把数据复制到新的工作簿后重新上传"
    )


def check_xlsx(path: Path, limits: Limits) -> list[Extent]:
    """Refuse an .xlsx any of whose sheets reaches beyond the limits; returns the extents."""
    extents = xlsx_extents(path, limits.scan_max_bytes)
    for extent in extents:
        refuse_if_absurd(extent, limits)
    return extents


def check_loaded(sheet, limits: Limits) -> None:
    """After calamine loaded a sheet (legacy .xls): refuse it if it reaches too far."""
    end = sheet.end
    if end is not None:
        refuse_if_absurd(Extent(sheet.name, end[0] + 1, end[1] + 1, declared=False), limits)
