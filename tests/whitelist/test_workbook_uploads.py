"""Hostile workbooks (issue 13, item 2): a 5 KB .xlsx with one far cell made the Excel reader
allocate without bound (XFD1048576 ≈ 550 GB: the process aborted; Z1048576 ≈ 845 MB).
Such a file is refused before any parser allocates, and one that gets past the extent
checks (a <dimension> that lies on a sheet too large to scan) ends only the memory-capped
reading process: the import fails with a Chinese message, the process that ran it lives on.
The blacklist upload gets the same defences."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from models.whitelist import BlacklistEntry, WhitelistImport
from portal.demo.whitelist import seed_products
from portal.whitelist import importing as svc
from portal.whitelist.sample import write_workbook
from tests.support.workbooks import (
    IDS,
    counts,
    far_cell_workbook,
    layout_workbook,
    marketer,
    patch_sheet,
    row,
)

FAR_CELLS = [
    ("XFD1048576", None),  # ≈ 550 GB for the reader: it aborted the worker
    ("Z1048576", None),  # ≈ 845 MB
    ("XFD1048576", "A1:I2"),  # the <dimension> lies: only the cells tell
]


@pytest.fixture()
def products(db):
    seed_products()
    return db


def _imports(db) -> int:
    return db.session.scalar(select(func.count()).select_from(WhitelistImport))


@pytest.mark.parametrize(("far_cell", "dimension"), FAR_CELLS)
def test_far_cell_workbook_is_refused_at_upload(
    products, db, tmp_path, marketing_client, far_cell, dimension
):
    path = far_cell_workbook(tmp_path, [row(), row()], far_cell, dimension)
    assert path.stat().st_size < 6000  # a small file
    before = (*counts(db), _imports(db))
    resp = marketing_client.post(
        "/whitelist/imports/upload/",
        data={"file": (io.BytesIO(path.read_bytes()), "far.xlsx"), "mode": "valid_only"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    page = resp.get_data(as_text=True)
    assert "文件未被接受" in page, page[-2000:]
    assert f"使用范围到 {far_cell} 为止" in page and "超出允许的" in page
    assert (*counts(db), _imports(db)) == before


def test_honest_dimension_refused_without_reading_the_cells(
    products, db, tmp_path, app, monkeypatch
):
    """A sheet too large to scan is judged by its <dimension> (what Excel writes)."""
    monkeypatch.setitem(app.config, "WORKBOOK_EXTENT_SCAN_MAX_BYTES", 0)
    src = write_workbook(tmp_path / "src.xlsx", [row()])
    path = patch_sheet(src, tmp_path / "dim.xlsx", None, "A1:XFD1048576")
    with (
        path.open("rb") as fh,
        pytest.raises(svc.UnsafeFile, match="使用范围到 XFD1048576 为止"),
    ):
        svc.submit(db.session, marketer(db), fh, "d.xlsx", "valid_only", False, False)


def test_a_scanned_sheet_is_judged_by_its_cells_not_its_dimension(products, db, tmp_path):
    """An overstated <dimension> does not refuse a small sheet whose cells are fine (the
    reader allocates for the cells)."""
    src = write_workbook(tmp_path / "src.xlsx", [row()])
    path = patch_sheet(src, tmp_path / "dims.xlsx", None, "A1:XFD1048576")
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, marketer(db), fh, "d.xlsx", "valid_only", False, False)
    assert svc.run_import(imp.id)["status"] == "committed"


@pytest.mark.parametrize(
    ("far_cell", "dimension"), [("XFD1048576", "A1:I3"), ("Z1048576", "A1:I3")]
)
def test_far_cell_past_the_checks_ends_only_the_reading_process(
    products, db, tmp_path, app, monkeypatch, far_cell, dimension
):
    """The dimension lies and the sheet is not scanned (as if it were large): the parse
    runs out of the reading process's memory cap; the import fails with a Chinese message
    and nothing written, this process (the worker's role) is unharmed, and the next import
    of a good file commits."""
    monkeypatch.setitem(app.config, "WORKBOOK_EXTENT_SCAN_MAX_BYTES", 0)
    monkeypatch.setitem(app.config, "WORKBOOK_READER_MAX_MEMORY_MB", 512)
    path = far_cell_workbook(tmp_path, [row(), row()], far_cell, dimension)
    before = counts(db)
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, marketer(db), fh, "far.xlsx", "valid_only", False, False)
    with pytest.raises(svc.ReaderFailed):
        svc.run_import(imp.id)
    db.session.refresh(imp)
    assert imp.status == "failed", imp.message
    assert "读取工作簿的进程异常终止" in imp.message and "512 MB" in imp.message
    assert counts(db) == before
    good = write_workbook(tmp_path / "good.xlsx", [row()])
    with good.open("rb") as fh:
        ok, _ = svc.submit(db.session, marketer(db), fh, "good.xlsx", "valid_only", False, False)
    assert svc.run_import(ok.id)["status"] == "committed"


def _blacklist_post(client, path):
    return client.post(
        "/whitelist/blacklist/upload/",
        data={"file": (io.BytesIO(path.read_bytes()), "black.xlsx")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)


def _blacklisted(db) -> int:
    return db.session.scalar(select(func.count()).select_from(BlacklistEntry))


def test_blacklist_far_cell_refused(db, tmp_path, client_for):
    admin = client_for("admin")
    src = layout_workbook(
        tmp_path / "bl.xlsx", {"Sheet1": [(1, ["身份证号", "原因"]), (2, [next(IDS), "欺诈"])]}
    )
    before = _blacklisted(db)
    far = patch_sheet(src, tmp_path / "bl-far.xlsx", "XFD1048576", None)
    page = _blacklist_post(admin, far)
    assert "使用范围到 XFD1048576 为止" in page, page[-2000:]
    assert _blacklisted(db) == before


def test_blacklist_reader_abort_spares_the_web_process(db, tmp_path, client_for, app, monkeypatch):
    """Past the extent checks (a lying dimension, no scan), the blacklist's parse ends its
    reading process, not the web process that received the upload."""
    monkeypatch.setitem(app.config, "WORKBOOK_EXTENT_SCAN_MAX_BYTES", 0)
    admin = client_for("admin")
    src = layout_workbook(
        tmp_path / "bl.xlsx", {"Sheet1": [(1, ["身份证号", "原因"]), (2, [next(IDS), "欺诈"])]}
    )
    far = patch_sheet(src, tmp_path / "bl-far.xlsx", "XFD1048576", "A1:B2")
    before = _blacklisted(db)
    page = _blacklist_post(admin, far)
    assert "读取工作簿的进程异常终止" in page, page[-2000:]
    assert _blacklisted(db) == before


def test_blacklist_header_found_below_a_title_on_another_sheet(db, tmp_path, client_for):
    admin = client_for("admin")
    number = next(IDS)
    path = layout_workbook(
        tmp_path / "bl2.xlsx",
        {
            "说明": [(1, ["黑名单导入说明"])],
            "名单": [
                (1, ["2026 年 11 月风险名单"]),
                (3, ["姓名", "身份证号*", "原因"]),
                (4, ["王五", number, "多头借贷"]),
            ],
        },
        merges=[("名单", "A1:C1")],
    )
    page = _blacklist_post(admin, path)
    assert "已导入黑名单 1 条" in page, page[-2000:]
    entry = db.session.scalars(select(BlacklistEntry).where(BlacklistEntry.id_number == number))
    assert entry.one().reason == "多头借贷"


def test_blacklist_without_header_says_what_is_missing(db, tmp_path, client_for):
    admin = client_for("admin")
    path = layout_workbook(
        tmp_path / "bl3.xlsx", {"Sheet1": [(1, ["身份证号", "备注"]), (2, [next(IDS), "x"])]}
    )
    page = _blacklist_post(admin, path)
    assert "已查看工作表“Sheet1”的前 10 行" in page and "缺少列：原因" in page, page[-2000:]


def test_reading_process_stays_small():
    """What the reading process imports (portal.core.child_process and the reader modules it is
    handed) pulls in no Flask, SQLAlchemy or openpyxl: it starts fast and small."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import portal.core.child_process, portal.whitelist.reader, portal.whitelist.blacklist_reader\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy',"
        " 'openpyxl', 'flask_appbuilder', 'redis', 'rq'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_legacy_xls_reaching_too_far_is_refused_by_the_reading_process(products, db, tmp_path):
    """A .xls (BIFF8) is measured after the reading process loaded it (its format caps it at
    65,536 × 256 cells, within the memory cap): a cell in column GS is refused."""
    import xlwt

    from portal.whitelist.columns import HEADERS, SHEET

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet(SHEET)
    for r, values in enumerate([HEADERS, row()]):
        for c, v in enumerate(values):
            sheet.write(r, c, v)
    sheet.write(5, 200, "x")
    path = tmp_path / "far.xls"
    book.save(str(path))
    before = counts(db)
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, marketer(db), fh, "far.xls", "valid_only", False, False)
    svc.run_import(imp.id)
    db.session.refresh(imp)
    assert imp.status == "rejected" and "使用范围到 GS6 为止" in imp.message, imp.message
    assert counts(db) == before
