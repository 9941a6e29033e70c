"""Workbooks for the upload tests: hostile ones (a far cell, a lying <dimension>) built by
patching the sheet XML of a small template-format file, and the layouts people send."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from openpyxl import Workbook

from portal.whitelist_columns import HEADERS
from portal.whitelist_sample import write_workbook

SHEET_XML = "xl/worksheets/sheet1.xml"


def patch_sheet(src: Path, dest: Path, far_cell: str | None, dimension: str | None) -> Path:
    """`src` with one more cell at `far_cell` (e.g. XFD1048576) and/or a <dimension ref>."""
    with zipfile.ZipFile(src) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    xml = parts[SHEET_XML].decode()
    if far_cell:
        row = re.fullmatch(r"[A-Z]+(\d+)", far_cell).group(1)
        cell = f'<row r="{row}"><c r="{far_cell}" t="inlineStr"><is><t>x</t></is></c></row>'
        xml = xml.replace("</sheetData>", cell + "</sheetData>")
    if dimension:
        xml = re.sub(r"<dimension [^>]*/>", "", xml)
        xml = xml.replace("<sheetViews>", f'<dimension ref="{dimension}"/><sheetViews>', 1)
        assert f'<dimension ref="{dimension}"/>' in xml
    parts[SHEET_XML] = xml.encode()
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return dest


def far_cell_workbook(
    folder: Path, rows: list[list], far_cell: str, dimension: str | None = None, name=None
) -> Path:
    """A template-format workbook of `rows` (≈ 5 KB) with one extra cell at `far_cell`."""
    base = write_workbook(folder / f"base-{far_cell}.xlsx", rows)
    dest = folder / (name or f"far-{far_cell}-{dimension or 'nodim'}.xlsx".replace(":", "_"))
    return patch_sheet(base, dest, far_cell, dimension)


def layout_workbook(path: Path, sheets: dict[str, list[tuple[int, list]]], merges=()) -> Path:
    """Sheets of {name: [(Excel row number, values from column A)]}; `merges` are
    (sheet, range) pairs merged as Excel does (the value stays in the top-left cell)."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row_no, values in rows:
            for col, value in enumerate(values, start=1):
                if value is not None:
                    ws.cell(row=row_no, column=col, value=value)
    for sheet, cells in merges:
        wb[sheet].merge_cells(cells)
    wb.save(path)
    return path


def header() -> list[str]:
    return list(HEADERS)
