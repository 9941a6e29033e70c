"""Workbooks for the upload tests: whitelist rows with fresh ID numbers, hostile files (a
far cell, a lying <dimension>) built by patching the sheet XML of a small template-format
file, and the layouts people send; and what the import tests read back.

(Test modules import these from here, never from one another: tests/ is no package, so a
test module imported by a second name would be a second copy, with a second ID generator
repeating the first one's numbers.)"""

from __future__ import annotations

import datetime as dt
import random
import re
import zipfile
from pathlib import Path

from openpyxl import Workbook
from python_calamine import load_workbook
from sqlalchemy import func, select

from models.access.staff import StaffUser
from models.customers import Customer
from models.whitelist import Offer, OfferHistory
from portal.whitelist import importing as svc
from portal.whitelist.columns import HEADERS
from portal.whitelist.sample import id_numbers, write_workbook

IDS = id_numbers(random.Random(20261122))
FUTURE = (dt.date.today() + dt.timedelta(days=60)).isoformat()


def row(**over) -> list:
    """A valid whitelist row (a new ID number each time), with `over` changed."""
    base = {
        "id": next(IDS),
        "name": "张三",
        "mobile": "13812345678",
        "branch": "I01B01",
        "product": "XFY",
        "limit": 50000.0,
        "rate": 6.5,
        "expiry": FUTURE,
        "action": "",
    }
    base.update(over)
    return list(base.values())


def marketer(db):
    return db.session.scalars(select(StaffUser).where(StaffUser.username == "marketing1")).one()


def counts(db) -> tuple[int, int, int]:
    s = db.session
    return (
        s.scalar(select(func.count()).select_from(Offer)),
        s.scalar(select(func.count()).select_from(Customer)),
        s.scalar(select(func.count()).select_from(OfferHistory)),
    )


def report_rows(imp) -> dict[int, str]:
    data = load_workbook(imp.error_report).get_sheet_by_index(0).to_python()
    return {int(r[0]): r[-1] for r in data[1:]}


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


def run(db, tmp_path: Path, rows: list, mode="valid_only", dry_run=False, name="wl.xlsx"):
    return submit_and_run(db, write_workbook(tmp_path / name, rows), mode, dry_run)


def submit_and_run(db, path: Path, mode="valid_only", dry_run=False):
    with path.open("rb") as fh:
        imp, msg = svc.submit(db.session, marketer(db), fh, path.name, mode, dry_run, False)
    if imp.status == "queued":
        svc.run_import(imp.id)
    db.session.refresh(imp)
    return imp, msg
