"""Spreadsheet upload safety (上传文件安全检查), before any parser sees the bytes.

Size cap; the format decided by magic bytes, never by the file name; for .xlsx (a zip):
entry count, total uncompressed size and per-entry ratio (zip bomb), no macro project
or macro-enabled content type even when renamed from .xlsm, every XML part's
prolog parsed by defusedxml (no DTD / entity expansion: XML bomb), and — given the row
cap — every sheet's extent (portal.core.workbook_extent: a far cell makes a reader allocate
without bound). For legacy .xls (OLE2): no VBA storage; its extent is checked by the
reading process. See docs/security.md, "Uploaded workbooks".
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from flask import current_app

from portal.core.workbook_extent import Limits, WorkbookRejected, check_xlsx

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
MACRO_TYPES = ("macroEnabled", "vbaProject", "vnd.ms-office.activeX", "vnd.ms-excel.macrosheet")


class UnsafeFile(ValueError):
    """The file was refused; the message is Chinese and shown to the uploader."""


def _limit(name: str) -> int:
    return int(current_app.config[name])


def workbook_limits(max_rows: int) -> Limits:
    """How far a sheet may reach for an import of at most `max_rows` data rows (the header may
    sit a few rows down: WORKBOOK_HEADER_SCAN_ROWS more are allowed)."""
    cfg = current_app.config
    return Limits(
        max_rows=max_rows + int(cfg["WORKBOOK_HEADER_SCAN_ROWS"]),
        max_columns=int(cfg["WORKBOOK_MAX_COLUMNS"]),
        scan_max_bytes=int(cfg["WORKBOOK_EXTENT_SCAN_MAX_BYTES"]),
    )


def check_spreadsheet(path: Path, max_bytes: int | None = None, max_rows: int | None = None) -> str:
    """Refuse anything but a plain, sane .xlsx or .xls; returns "xlsx" or "xls".

    With `max_rows` (an upload), an .xlsx whose sheets reach beyond the rows and columns an
    import may use is refused too."""
    size = path.stat().st_size
    max_bytes = max_bytes or _limit("WHITELIST_MAX_BYTES")
    if size == 0:
        raise UnsafeFile("文件为空（0 字节）")
    if size > max_bytes:
        raise UnsafeFile(f"文件过大：{size / 1048576:.1f} MB，上限 {max_bytes / 1048576:.0f} MB")
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGIC):
        _check_xlsx(path)
        if max_rows is not None:
            try:
                check_xlsx(path, workbook_limits(max_rows))
            except WorkbookRejected as exc:
                raise UnsafeFile(str(exc)) from None
        return "xlsx"
    if head == OLE_MAGIC:
        _check_xls(path)
        return "xls"
    raise UnsafeFile("文件不是 Excel 工作簿（.xlsx / .xls），请使用下载的模板填写")


def _check_xlsx(path: Path) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UnsafeFile("文件已损坏，无法作为 .xlsx 打开") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > _limit("WHITELIST_ZIP_MAX_ENTRIES"):
            raise UnsafeFile(f"工作簿内部文件数异常（{len(infos)} 个），已拒绝")
        total = sum(i.file_size for i in infos)
        if total > _limit("WHITELIST_ZIP_MAX_UNCOMPRESSED"):
            raise UnsafeFile("工作簿解压后体积异常（疑似压缩炸弹），已拒绝")
        ratio = _limit("WHITELIST_ZIP_MAX_RATIO")
        names = {i.filename.lower() for i in infos}
        for info in infos:
            if info.file_size > 1_000_000 and info.file_size > ratio * max(info.compress_size, 1):
                raise UnsafeFile("工作簿压缩比异常（疑似压缩炸弹），已拒绝")
            lower = info.filename.lower()
            if lower.endswith("vbaproject.bin") or "/activex/" in lower:
                raise UnsafeFile("文件包含宏或可执行内容（可能是改了扩展名的 .xlsm），已拒绝")
        if "[content_types].xml" not in names or "xl/workbook.xml" not in names:
            raise UnsafeFile("文件不是有效的 .xlsx 工作簿")
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                _check_xml_part(zf, info)
        content_types = zf.read("[Content_Types].xml").decode("utf-8", "replace")
        if any(t.lower() in content_types.lower() for t in MACRO_TYPES):
            raise UnsafeFile("文件是启用宏的工作簿（.xlsm），已拒绝；请另存为 .xlsx")


def _check_xml_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Parse the part's prolog with defusedxml: a DTD or entity declaration is refused."""
    try:
        with zf.open(info) as stream:
            for _event, _elem in SafeET.iterparse(stream, events=("start",)):
                break  # the prolog (where a DTD would be) is behind us
    except DefusedXmlException as exc:
        raise UnsafeFile("工作簿包含 XML 实体声明（疑似 XML 炸弹），已拒绝") from exc
    except SafeET.ParseError as exc:
        raise UnsafeFile(f"工作簿内部 XML 损坏（{info.filename}）") from exc


def _check_xls(path: Path) -> None:
    data = path.read_bytes()
    for marker in ("_VBA_PROJECT", "VBA", "Macros"):
        if marker.encode("utf-16-le") + b"\x00\x00" in data:
            raise UnsafeFile("文件包含宏（VBA），已拒绝；请另存为不含宏的工作簿")
