"""Whitelist import: template round-trip, every row rule and Excel trap, dry run, modes,
re-import no-op, scope, hostile files, offer changes with history, progress, permissions."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook as openpyxl_load
from sqlalchemy import func, select, text

from models.customers import Customer
from models.whitelist import BlacklistEntry, Offer, OfferHistory, WhitelistImport
from portal.core.upload_safety import UnsafeFile
from portal.demo.whitelist import seed_products
from portal.whitelist import importing as svc
from portal.whitelist import merge as wl_merge
from portal.whitelist.columns import HEADERS
from portal.whitelist.sample import write_workbook
from tests.support.workbooks import IDS, counts, marketer, report_rows, row, run, submit_and_run


def test_template_round_trip(products, marketing_client, db, tmp_path):
    resp = marketing_client.get("/whitelist/imports/template/")
    assert resp.status_code == 200
    wb = openpyxl_load(io.BytesIO(resp.data))
    assert wb.sheetnames == ["白名单", "代码列表", "填写说明"]
    ws = wb["白名单"]
    assert [c.value for c in ws[1]] == HEADERS
    assert ws.column_dimensions["A"].number_format == "@"
    ranges = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in ws.data_validations.dataValidation}
    assert "代码列表!$A$2" in ranges["D2"] and "代码列表!$C$2" in ranges["E2"]
    codes = [r[0].value for r in wb["代码列表"].iter_rows(min_row=2) if r[0].value]
    assert codes and all(c.startswith("I01B") for c in codes)  # only branches in scope
    ws.append(row(branch=codes[1]))
    path = tmp_path / "filled.xlsx"
    wb.save(path)
    with path.open("rb") as fh:
        imp, _ = svc.submit(
            db.session, marketer(db), fh, "filled.xlsx", "all_or_nothing", False, enqueue_job=False
        )
    svc.run_import(imp.id)
    db.session.refresh(imp)
    assert (imp.status, imp.offers_created, imp.error_rows) == ("committed", 1, 0)


RULES = [
    # (overrides, expected message or None when the row is accepted)
    ({"id": "440103199001011235"}, "校验位错误"),
    ({"id": 4.40103199001011e17}, "存成了数字"),
    ({"id": "440103900101123"}, "15 位"),
    ({"id": ""}, "身份证号不能为空"),
    ({"name": ""}, "姓名不能为空"),
    ({"name": "张3"}, "姓名不能超过"),
    ({"mobile": "12345"}, "手机号"),
    ({"mobile": ""}, "手机号不能为空"),
    ({"branch": "I09B09"}, "不存在"),
    ({"branch": "I02B01"}, "不在您的数据权限范围内"),
    ({"branch": ""}, "网点编号不能为空"),
    ({"product": "NOPE"}, "产品编号“NOPE”不存在"),
    ({"limit": 999999999.0}, "超出产品范围"),
    ({"limit": "五万"}, "必须是数字"),
    ({"rate": 0.065}, "请填写百分数"),
    ({"rate": 40.0}, "超出产品范围"),
    ({"expiry": "2020-01-01"}, "已过"),
    ({"expiry": "明年"}, "不是有效日期"),
    ({"expiry": (dt.date.today() + dt.timedelta(days=999)).isoformat()}, "超过产品规定"),
    ({"action": "删除"}, "操作“删除”无效"),
    ({"action": "撤销"}, "没有此产品的有效额度"),
    # Excel's traps that are repaired rather than refused
    ({"mobile": "+86 138 1234 5678"}, None),
    ({"mobile": 13812345678.0}, None),
    ({"limit": "50,000"}, None),
    (
        {"expiry": float((dt.date.today() + dt.timedelta(days=30) - dt.date(1899, 12, 30)).days)},
        None,
    ),
    ({"expiry": (dt.date.today() + dt.timedelta(days=30)).strftime("%Y/%m/%d")}, None),
    ({"expiry": ""}, None),
    ({"name": " 李 四 "}, None),
]


def test_every_row_rule_and_excel_trap(products, db, tmp_path):
    rows = [row(**over) for over, _ in RULES]
    lower_x = next(i for i in IDS if i.endswith("X"))
    rows.append(row(id=lower_x.lower()))  # lowercase x: accepted
    full = next(IDS)
    rows.append(row(id=full.translate(str.maketrans("0123456789", "０１２３４５６７８９"))))
    rows.append(row(id=full))  # the same person again after full-width repair: duplicate
    blacklisted = next(IDS)
    db.session.add(BlacklistEntry(id_number=blacklisted, reason="测试", source="风险监测"))
    db.session.commit()
    rows.append(row(id=blacklisted))
    imp, _ = run(db, tmp_path, rows)
    reasons = report_rows(imp)
    for n, (_over, expected) in enumerate(RULES, start=2):
        if expected is None:
            assert n not in reasons, (n, reasons.get(n))
        else:
            assert expected in reasons.get(n, ""), (n, expected, reasons.get(n))
    base = len(RULES) + 2
    assert base not in reasons and base + 1 not in reasons  # lowercase x, full-width
    assert "与第" in reasons[base + 2] and "重复" in reasons[base + 2]
    assert "黑名单" in reasons[base + 3]
    wrong = sum(1 for _o, e in RULES if e) + 2
    assert (imp.error_rows, imp.valid_rows) == (wrong, len(rows) - wrong)
    wb = openpyxl_load(imp.error_report)  # the bad cell is highlighted
    ws = wb.active
    first_bad = next(r for r in ws.iter_rows(min_row=2) if r[0].value == 2)
    assert first_bad[1].fill.fgColor.rgb.endswith("FFC7CE")


def test_dry_run_writes_nothing(products, db, tmp_path):
    before = counts(db)
    imp, _ = run(db, tmp_path, [row(), row(), row(mobile="1")], dry_run=True)
    assert imp.status == "validated" and (imp.valid_rows, imp.error_rows) == (2, 1)
    assert counts(db) == before and imp.error_report


def test_all_or_nothing_vs_valid_rows(products, db, tmp_path):
    before = counts(db)
    rows = [row(), row(), row(rate=99.0)]
    imp, _ = run(db, tmp_path, rows, mode="all_or_nothing", name="a.xlsx")
    assert imp.status == "rejected" and counts(db) == before
    imp2, _ = run(db, tmp_path, rows, mode="valid_only", name="b.xlsx")
    assert imp2.status == "committed" and imp2.offers_created == 2
    assert counts(db)[0] == before[0] + 2


def test_reimport_same_file_is_a_no_op(products, db, tmp_path):
    # one file uploaded twice (a workbook written again differs: its timestamps)
    path = write_workbook(tmp_path / "twice.xlsx", [row(), row()])
    first, _ = submit_and_run(db, path)
    assert first.status == "committed"
    before = counts(db)
    n_imports = db.session.scalar(select(func.count()).select_from(WhitelistImport))
    again, msg = submit_and_run(db, path)
    assert again.id == first.id and "未做任何更改" in msg
    assert counts(db) == before
    assert db.session.scalar(select(func.count()).select_from(WhitelistImport)) == n_imports


def _keys(db) -> tuple[list, list]:
    """Indexes and constraints of customer/offer, to see bulk mode restore them."""
    s = db.session
    if db.engine.dialect.name == "sqlite":
        return s.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND tbl_name IN ('customer', 'offer') ORDER BY name"
            )
        ).all(), []
    return (
        s.execute(
            text(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
                " WHERE indrelid IN ('customer'::regclass, 'offer'::regclass) ORDER BY 1"
            )
        ).all(),
        s.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint"
                " WHERE conrelid IN ('customer'::regclass, 'offer'::regclass) ORDER BY 1"
            )
        ).all(),
    )


@pytest.mark.parametrize("bulk", [False, True], ids=["row_merge", "bulk_merge"])
def test_change_keeps_history_and_revocation(products, db, tmp_path, monkeypatch, bulk):
    """Same results whether the merge maintains indexes row by row or (PostgreSQL, large
    loads) locks the tables and rebuilds their secondary indexes and FKs afterwards."""
    keys = _keys(db)
    db.session.commit()
    monkeypatch.setattr(wl_merge, "bulk_wanted", lambda conn, rows: bulk)
    rebuilt = []
    end_bulk = wl_merge._end_bulk
    monkeypatch.setattr(
        wl_merge, "_end_bulk", lambda conn, b: (rebuilt.append(1), end_bulk(conn, b))
    )
    person = row()
    run(db, tmp_path, [person], name="v1.xlsx")
    changed = list(person)
    changed[5], changed[6] = 80000.0, 7.2
    imp, _ = run(db, tmp_path, [changed, row()], name="v2.xlsx")
    assert (imp.offers_changed, imp.offers_created) == (1, 1)
    offer = db.session.scalars(
        select(Offer).join(Customer).where(Customer.id_number == person[0])
    ).one()
    assert (float(offer.limit_amount), offer.version) == (80000.0, 2)
    hist = db.session.scalars(select(OfferHistory).where(OfferHistory.offer_id == offer.id)).one()
    assert (float(hist.old_limit), float(hist.new_limit), float(hist.new_rate)) == (
        50000,
        80000,
        7.2,
    )
    same, _ = run(db, tmp_path, [changed], name="v3.xlsx")
    assert (same.offers_unchanged, same.offers_changed) == (1, 0)
    revoke = list(person)
    revoke[8] = "撤销"
    rev, _ = run(db, tmp_path, [revoke], name="v4.xlsx")
    db.session.refresh(offer)
    assert rev.offers_revoked == 1 and offer.status == "revoked" and offer.version == 3
    assert _keys(db) == keys and len(keys[0]) >= 8  # every index back, as it was
    assert len(rebuilt) == (4 if bulk else 0)  # the tables were free: no fallback
    before = counts(db)
    bad, _ = run(db, tmp_path, [row(), row(rate=99.0)], mode="all_or_nothing", name="v5.xlsx")
    assert bad.status == "rejected" and counts(db) == before
    assert _keys(db) == keys  # the rollback put back what bulk mode had set aside


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _xlsx_parts(tmp_path) -> dict[str, bytes]:
    path = write_workbook(tmp_path / "base.xlsx", [row()])
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def hostile_files(tmp_path) -> dict[str, tuple[bytes, str]]:
    parts = _xlsx_parts(tmp_path)
    bomb_xml = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><worksheet>&lol2;</worksheet>'
    )
    macro_ct = parts["[Content_Types].xml"].replace(
        b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml"
    )
    return {
        "empty": (b"", "0 字节"),
        "text": (b"id,name\n1,2\n", "不是 Excel"),
        "zip_bomb": (_zip({**parts, "xl/media/big.bin": b"\0" * 50_000_000}), "压缩"),
        "xml_bomb": (_zip({**parts, "xl/worksheets/sheet1.xml": bomb_xml}), "XML"),
        "renamed_xlsm_vba": (_zip({**parts, "xl/vbaProject.bin": b"VBA"}), "宏"),
        "renamed_xlsm_type": (_zip({**parts, "[Content_Types].xml": macro_ct}), "宏"),
        "xls_with_macro": (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            + b"\0" * 600
            + "_VBA_PROJECT".encode("utf-16-le")
            + b"\0\0",
            "宏",
        ),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "empty",
        "text",
        "zip_bomb",
        "xml_bomb",
        "renamed_xlsm_vba",
        "renamed_xlsm_type",
        "xls_with_macro",
    ],
)
def test_hostile_files_are_refused_and_write_nothing(
    products, db, tmp_path, marketing_client, kind
):
    data, expected = hostile_files(tmp_path)[kind]
    before = (*counts(db), db.session.scalar(select(func.count()).select_from(WhitelistImport)))
    resp = marketing_client.post(
        "/whitelist/imports/upload/",
        data={"file": (io.BytesIO(data), "whitelist.xlsx"), "mode": "valid_only"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "文件未被接受" in page and expected in page, page[-3000:]
    after = (*counts(db), db.session.scalar(select(func.count()).select_from(WhitelistImport)))
    assert after == before


def test_wrong_headers_rejected(products, db, tmp_path):
    before = counts(db)
    path = write_workbook(tmp_path / "h.xlsx", [row()], headers=["身份证", "名字", "电话"])
    with path.open("rb") as fh:
        imp, _ = svc.submit(
            db.session, marketer(db), fh, "h.xlsx", "valid_only", False, enqueue_job=False
        )
    svc.run_import(imp.id)
    db.session.refresh(imp)
    assert imp.status == "rejected" and "表头与模板不一致" in imp.message
    assert counts(db) == before


def test_row_cap(products, db, tmp_path, app):
    app.config["WHITELIST_MAX_ROWS"] = 2
    try:
        imp, _ = run(db, tmp_path, [row(), row(), row()])
    finally:
        app.config["WHITELIST_MAX_ROWS"] = 1_000_000
    assert imp.status == "rejected" and "单次导入上限" in imp.message


def test_size_cap(products, db, tmp_path, app):
    app.config["WHITELIST_MAX_BYTES"] = 1000
    try:
        with pytest.raises(UnsafeFile, match="文件过大"):
            run(db, tmp_path, [row()])
    finally:
        app.config["WHITELIST_MAX_BYTES"] = 150 * 1024 * 1024


def test_upload_page_progress_and_report(products, db, tmp_path, marketing_client, redis):
    path = write_workbook(tmp_path / "web.xlsx", [row(), row(mobile="x")])
    resp = marketing_client.post(
        "/whitelist/imports/upload/",
        data={"file": (path.open("rb"), "web.xlsx"), "mode": "valid_only"},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    pk = int(resp.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert redis.llen("rq:queue:batch") == 1  # the job is queued for a worker
    assert marketing_client.get(f"/whitelist/imports/progress/{pk}").json["phase"] == "queued"
    svc.run_import(pk)
    data = marketing_client.get(f"/whitelist/imports/progress/{pk}").json
    assert data["status"] == "committed" and data["percent"] == 100 and data["report"]
    report = marketing_client.get(f"/whitelist/imports/report/{pk}")
    assert report.status_code == 200 and report.data[:2] == b"PK"
    page = marketing_client.get(f"/whitelist/imports/show/{pk}").get_data(as_text=True)
    assert "下载错误报告" in page and "处理进度" in page


def test_roles_and_scope_on_pages(app, tmp_path, client_for):
    """Requests outside the test's app context: Flask shares `g` with an enclosing one."""
    from portal.core.extensions import db

    with app.app_context():
        seed_products()
        imp, _ = run(db, tmp_path, [row(branch="I01B01")])
        offer_id = db.session.scalars(select(Offer.id).where(Offer.import_id == imp.id)).first()
        imp_id = imp.id
        db.session.remove()
    manager, other = client_for("account_manager"), client_for("i02_admin")
    marketing = client_for("data_marketing")
    assert manager.get("/whitelist/imports/upload/").status_code in (302, 403)
    assert manager.get("/whitelist/offers/list/").status_code == 200
    assert other.get(f"/whitelist/imports/progress/{imp_id}").status_code == 404
    assert other.get(f"/whitelist/offers/show/{offer_id}").status_code == 404
    assert marketing.get(f"/whitelist/offers/show/{offer_id}").status_code == 200


def test_import_connection_restored(products, db, tmp_path):
    """The SQLite import turns row-by-row FK checks off (checking set-based before commit) and
    enlarges the page cache: the pooled connection must come back with both restored."""
    imp, _ = run(db, tmp_path, [row(), row()])
    assert imp.status == "committed"
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -2000


@pytest.mark.parametrize("bulk", [False, True], ids=["row_merge", "bulk_merge"])
def test_chunked_writes_match_whole_file_rules(products, db, tmp_path, monkeypatch, bulk):
    """Chunks of two rows: new customers go straight in, a later chunk's second product for
    a customer an earlier chunk created is merged like any existing customer's, and the
    database rules still see "before this file" for customers that already existed. In bulk
    mode (PostgreSQL: blacklist and customers read once, customer ids reserved in blocks)
    and with COPY sent one row per piece, the outcome is the same."""
    from portal.whitelist import writer as whitelist_writer

    monkeypatch.setattr(svc, "CHUNK", 2)
    monkeypatch.setattr(whitelist_writer, "PIECE", 1)
    known = row()
    run(db, tmp_path, [known], name="before.xlsx")
    monkeypatch.setattr(wl_merge, "bulk_wanted", lambda conn, rows: bulk)
    n_offers, n_customers, _ = counts(db)
    changed = list(known)
    changed[5] = 90000.0
    new_b = row()
    black, nothing = row(), row(action="撤销")
    db.session.add(BlacklistEntry(id_number=black[0], reason="测试", source="风险监测"))
    db.session.commit()
    rows = [
        new_b,  # chunk 1: new customer, written directly
        changed,  # chunk 1: existing customer, staged and merged at the end
        black,  # chunk 2: blacklisted new customer
        nothing,  # chunk 2: revoke for a customer that does not exist
        row(id=new_b[0], product="KDB", limit=8000.0, rate=9.0),  # chunk 3: B's 2nd product
        row(id=new_b[0], name="李四"),  # chunk 3: B/XFY again: duplicate row
    ]
    imp, _ = run(db, tmp_path, rows, name="chunked.xlsx")
    assert imp.status == "committed"
    assert (imp.customers_created, imp.offers_created, imp.offers_changed) == (1, 2, 1)
    assert (imp.valid_rows, imp.error_rows) == (3, 3)
    reasons = report_rows(imp)
    assert "黑名单" in reasons[4] and "撤销失败" in reasons[5] and "重复" in reasons[7]
    assert counts(db)[:2] == (n_offers + 2, n_customers + 1)
    b = db.session.scalars(select(Customer).where(Customer.id_number == new_b[0])).one()
    assert b.name == new_b[1] and b.birth_date is not None and b.institution_id
    offers = db.session.scalars(select(Offer).where(Offer.customer_id == b.id)).all()
    assert sorted((float(o.limit_amount), o.status, o.version) for o in offers) == [
        (8000.0, "pending", 1),
        (float(new_b[5]), "pending", 1),
    ]
    mine = db.session.scalars(
        select(Offer).join(Customer).where(Customer.id_number == known[0])
    ).one()
    assert (float(mine.limit_amount), mine.version) == (90000.0, 2)


def test_one_customer_cannot_go_to_two_institutions_in_one_file():
    from portal.whitelist.rows import Context, ProductRule, RowValidator

    rule = ProductRule(1, "XFY", 10000, 300000, 4.35, 18, 180)
    other = ProductRule(2, "XFY", 10000, 300000, 4.35, 18, 180)
    ctx = Context(
        {"I01B01": (11, 1), "I02B01": (21, 2)},
        {"I01B01", "I02B01"},
        {(1, "XFY"): rule, (2, "XFY"): other},
        dt.date.today(),
    )
    v = RowValidator(ctx)
    first = row(branch="I01B01")
    staged, errs = v.validate(2, first)
    assert staged is not None and not errs
    staged, errs = v.validate(3, row(id=first[0], branch="I02B01"))
    assert staged is None and "其他法人机构" in " ".join(errs.values())


def test_legacy_xls_workbook_imports(products, db, tmp_path):
    """A real BIFF8 .xls (as Excel 97–2003 saves it), with a number-typed ID cell refused."""
    import xlwt

    from portal.whitelist.columns import SHEET

    good, second = row(), row(limit=12000.0)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet(SHEET)
    for c, h in enumerate(HEADERS):
        sheet.write(0, c, h)
    data = [good, second, row(id=float(next(IDS)[:15]))]  # Excel kept only 15 digits
    for r, values in enumerate(data, start=1):
        for c, v in enumerate(values):
            sheet.write(r, c, v)
    path = tmp_path / "legacy.xls"
    book.save(str(path))
    assert path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an OLE2 file
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, marketer(db), fh, path.name, "valid_only", False, False)
    svc.run_import(imp.id)
    db.session.refresh(imp)
    assert imp.status == "committed" and (imp.offers_created, imp.error_rows) == (2, 1)
    assert imp.stored_path.endswith(".xls")
    offer = db.session.scalars(
        select(Offer).join(Customer).where(Customer.id_number == second[0])
    ).one()
    assert float(offer.limit_amount) == 12000.0
    assert "存成了数字" in report_rows(imp)[4]


def test_new_customers_written_in_multi_row_groups(products, db, tmp_path, monkeypatch):
    """New customers and offers go in as multi-row INSERTs (SQLite) or COPY pieces
    (PostgreSQL): with groups of 3 and pieces of 3 rows, 7 rows make two whole groups and a
    remainder, and every row lands with its own values."""
    from portal.whitelist import writer as whitelist_writer

    monkeypatch.setattr(whitelist_writer, "SQLITE_ROWS_PER_INSERT", 3)
    monkeypatch.setattr(whitelist_writer, "PIECE", 3)
    rows = [
        row(name=name, mobile=f"1381234{i:04d}", limit=10000.0 + 1000 * i, rate=5.0 + i / 10)
        for i, name in enumerate(["赵一", "钱二", "孙三", "李四", "周五", "吴六", "郑七"])
    ]
    before = counts(db)
    imp, _ = run(db, tmp_path, rows, name="groups.xlsx")
    assert imp.status == "committed" and imp.customers_created == imp.offers_created == 7
    assert counts(db)[:2] == (before[0] + 7, before[1] + 7)
    got = db.session.execute(
        select(Customer.id_number, Customer.name, Customer.mobile, Offer.limit_amount, Offer.rate)
        .join(Offer, Offer.customer_id == Customer.id)
        .where(Customer.id_number.in_([r[0] for r in rows]))
    ).all()
    assert sorted((n, name, m, float(lim), float(rate)) for n, name, m, lim, rate in got) == sorted(
        (r[0], r[1], r[2], r[5], round(r[6], 4)) for r in rows
    )


def test_reading_process_dies_import_fails_and_writes_nothing(
    products, db, tmp_path, monkeypatch, app
):
    """The second process is killed while it is still sending rows: the import fails with
    nothing written (no customer, offer or history), and once re-run it commits them all."""
    import subprocess

    from portal.core import child_process
    from portal.whitelist import reader as whitelist_reader

    # a message per row, ≈ 250 bytes each: 2,000 rows are far more than the pipe (64 KB) and
    # our read buffer hold, so the child is still sending when it is killed
    monkeypatch.setattr(svc, "CHUNK", 1)
    n_rows = 2000
    rows = [row() for _ in range(n_rows)]
    children: list[subprocess.Popen] = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        children.append(real_popen(*args, **kwargs))
        return children[-1]

    real_messages = whitelist_reader.messages

    def killed_after_the_parse(*args, **kwargs):
        stream = real_messages(*args, **kwargs)
        yield next(stream)  # the sheet is parsed; the child now validates and sends
        children[-1].kill()
        yield from stream

    monkeypatch.setattr(child_process.subprocess, "Popen", popen)
    monkeypatch.setattr(whitelist_reader, "messages", killed_after_the_parse)
    before = counts(db)
    path = write_workbook(tmp_path / "dies.xlsx", rows)
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, marketer(db), fh, "dies.xlsx", "valid_only", False, False)
    with pytest.raises(child_process.ReaderFailed):
        svc.run_import(imp.id)
    db.session.refresh(imp)
    assert imp.status == "failed" and "未写入任何数据" in imp.message
    assert counts(db) == before
    monkeypatch.setattr(whitelist_reader, "messages", real_messages)
    result = svc.run_import(imp.id)
    assert result["status"] == "committed" and result["offers_created"] == n_rows
    assert counts(db)[:2] == (before[0] + n_rows, before[1] + n_rows)
    assert all(c.poll() is not None for c in children)  # no reading process left behind


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_reading_process_ends_when_the_import_process_is_killed(tmp_path):
    """SIGKILL to the importing process (a worker killed mid-import): its reading process
    does not parse on alone."""
    import subprocess
    import sys
    import time

    path = write_workbook(tmp_path / "orphan.xlsx", [row() for _ in range(3000)])
    script = (
        "import datetime as dt, os, pathlib, signal, subprocess, sys\n"
        "from portal.core import child_process\n"
        "from portal.whitelist import reader as r\n"
        "from portal.whitelist.rows import Context\n"
        "from portal.core.workbook_extent import Limits\n"
        "made = []\n"
        "real = subprocess.Popen\n"
        "def popen(*a, **k):\n"
        "    made.append(real(*a, **k)); return made[-1]\n"
        "child_process.subprocess.Popen = popen\n"
        "ctx = Context({}, set(), {}, dt.date.today())\n"
        "limits = Limits(10**6, 50, 1 << 24)\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "stream = r.messages(path, ctx, limits, 10, 10**6, 10**6, 1, 2048)\n"
        "next(stream)\n"
        "print(made[0].pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
