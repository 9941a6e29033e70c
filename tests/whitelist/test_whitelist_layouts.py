"""Workbook layouts people actually send (issue 13, item 8): an empty first row, a merged
title row above the header, a two-level header, the data on a sheet not named 白名单 — each
imports, with the error report's row numbers those of Excel; a workbook with no header
anywhere is refused saying which sheets were looked at and what the closest row lacks; an
import of which no row passed is not labelled 已导入."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.customers import Customer
from models.whitelist import Offer
from portal.demo.whitelist import seed_products
from portal.whitelist import importing as svc
from tests.support.workbooks import counts, header, layout_workbook, marketer, report_rows, row

TOP = ["身份证号*", "姓名*", "手机号*", "授信信息", None, None, None, None, None]
LOWER = [None, None, None, *header()[3:]]


@pytest.fixture()
def products(db):
    seed_products()
    return db


def _import(db, path, mode="valid_only"):
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, marketer(db), fh, path.name, mode, False, False)
    svc.run_import(imp.id)
    db.session.refresh(imp)
    return imp


def _limit_of(db, id_number: str) -> float:
    offer = db.session.scalars(
        select(Offer).join(Customer).where(Customer.id_number == id_number)
    ).one()
    return float(offer.limit_amount)


LAYOUTS = {
    # name: (sheets, merges, Excel row of the first data row)
    "empty_first_row": (lambda good, bad: {"白名单": [(2, header()), (3, good), (4, bad)]}, [], 3),
    "merged_title_row": (
        lambda good, bad: {
            "白名单": [(1, ["2026 年 11 月消费易白名单"]), (2, header()), (3, good), (4, bad)]
        },
        [("白名单", "A1:I1")],
        3,
    ),
    "two_level_header": (
        lambda good, bad: {"白名单": [(1, TOP), (2, LOWER), (3, good), (4, bad)]},
        [("白名单", f"{c}1:{c}2") for c in "ABC"] + [("白名单", "D1:I1")],
        3,
    ),
    "data_on_sheet2": (
        lambda good, bad: {
            "Sheet1": [(1, ["本文件为 11 月白名单，数据见 Sheet2"])],
            "Sheet2": [(1, header()), (2, good), (3, bad)],
        },
        [],
        2,
    ),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_people_send_are_imported(products, db, tmp_path, layout):
    make, merges, first = LAYOUTS[layout]
    good, bad = row(limit=23000.0), row(mobile="12345")
    path = layout_workbook(tmp_path / f"{layout}.xlsx", make(good, bad), merges)
    imp = _import(db, path)
    assert imp.status == "committed", imp.message
    assert (imp.total_rows, imp.valid_rows, imp.error_rows) == (2, 1, 1)
    assert _limit_of(db, good[0]) == 23000.0
    assert list(report_rows(imp)) == [first + 1]  # the bad row, numbered as in Excel
    assert imp.status_label == "已导入 1/2 行"


def test_no_header_anywhere_says_what_is_wrong(products, db, tmp_path):
    before = counts(db)
    path = layout_workbook(
        tmp_path / "noheader.xlsx",
        {
            "客户": [(1, ["客户", "电话"]), (2, ["张三", "13812345678"])],
            "Sheet2": [(3, ["身份证号", "姓名", "手机号"]), (4, row()[:3])],
            "空表": [],
        },
    )
    imp = _import(db, path)
    assert imp.status == "rejected"
    assert "已查看工作表“客户”、“Sheet2”、“空表”的前 10 行（“空表”为空）" in imp.message
    assert "最接近的是工作表“Sheet2”第 3 行" in imp.message
    assert "缺少列：网点编号、产品编号、预授信额度（元）、年利率（%）" in imp.message
    assert "表头与模板不一致" in imp.message
    assert counts(db) == before


def test_header_below_the_rows_looked_at_is_not_taken(products, db, tmp_path):
    path = layout_workbook(tmp_path / "low.xlsx", {"白名单": [(12, header()), (13, row())]})
    imp = _import(db, path)
    assert imp.status == "rejected"
    assert "表头须在前 10 行内（工作表“白名单”的内容从第 12 行开始）" in imp.message


def test_no_row_passed_is_not_labelled_imported(products, db, tmp_path):
    before = counts(db)
    path = layout_workbook(
        tmp_path / "allbad.xlsx",
        {"白名单": [(1, header()), (2, row(mobile="123")), (3, row(branch="NOPE"))]},
    )
    imp = _import(db, path)
    assert imp.status == "none_valid", imp.message
    assert "已导入" not in imp.status_label and "全部未通过" in imp.status_label
    assert "0/2" in imp.status_label
    assert "全部 2 行均未通过校验，未导入任何数据" in imp.message
    assert (imp.total_rows, imp.error_rows) == (2, 2) and imp.error_report
    assert counts(db) == before
    assert svc.run_import(imp.id) == {"skipped": True}  # over: not run again
