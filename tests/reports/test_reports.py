"""Daily application-detail report against a known dataset (contents, masking, formula
escaping, scoped audited download); ODS export idempotent with a valid manifest;
marketing targets kept inside the editor's scope."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.applications import Application, ApplicationEvent
from models.reports import MarketingTarget
from portal.integrations import dw_export
from portal.reports import daily_report
from tests.support.applications import make_application, org_id, user_id

DAY = dt.date(2025, 3, 10)
EVIL = '=HYPERLINK("http://evil.example/","点我")'


def _history(db, app_id: int, steps: list[tuple], reason_code=None, reason=None) -> None:
    base = dt.datetime.combine(DAY, dt.time(9, 0))
    db.session.execute(
        update(Application)
        .where(Application.id == app_id)
        .values(submitted_at=base + dt.timedelta(minutes=steps[0][3]), amount=Decimal("30000"))
    )
    for version, (action, from_state, to_state, minute) in enumerate(steps, start=1):
        last = version == len(steps)
        db.session.add(
            ApplicationEvent(
                application_id=app_id,
                action=action,
                from_state=from_state,
                to_state=to_state,
                version=version,
                actor_kind="system",
                reason_code=reason_code if last else None,
                reason=reason if last else None,
                at=base + dt.timedelta(minutes=minute),
            )
        )
    db.session.commit()


@pytest.fixture()
def dataset(db):
    approved = make_application("active", branch="I01B01")
    _history(
        db,
        approved,
        [
            ("submit", None, "submitted", 0),
            ("assign", "submitted", "assigned", 1),
            ("start_review", "assigned", "under_review", 2),
            ("pass", "under_review", "review_passed", 5),
            ("submit_approval", "review_passed", "in_approval", 5),
            ("approve", "in_approval", "approved", 10),
            ("disburse", "approved", "disbursing", 10),
            ("disbursed", "disbursing", "active", 11),
        ],
    )
    rejected = make_application("rejected", branch="I01B01")
    _history(
        db,
        rejected,
        [
            ("submit", None, "submitted", 60),
            ("assign", "submitted", "assigned", 61),
            ("start_review", "assigned", "under_review", 70),
            ("reject", "under_review", "rejected", 90),
        ],
        reason_code="info_false",
        reason=EVIL,
    )
    other = make_application("submitted", branch="I02B01")
    _history(db, other, [("submit", None, "submitted", 30)])
    return approved, rejected


def test_report_rows_match_the_known_dataset(db, dataset):
    approved, rejected = dataset
    inst = db.session.get(OrgUnit, org_id("I01"))
    report = daily_report.generate(db.session, DAY, inst)
    assert report.rows == 2
    ws = load_workbook(report.stored_path).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[1][:3] == ("申请编号", "客户姓名", "证件号码")
    header = rows[1]
    first, second = (dict(zip(header, r, strict=False)) for r in rows[2:4])
    a = db.session.get(Application, approved)
    assert first["申请编号"] == a.app_no
    assert "*" in first["客户姓名"] and "*" in first["证件号码"]  # masked
    assert first["申请金额"] == 30000 and first["批准金额"] == 30000
    assert first["提交时间"] == "2025-03-10 09:00:00"
    assert first["审批通过"] == "2025-03-10 09:10:00"
    assert first["额度生效"] == "2025-03-10 09:11:00"
    assert first["决定用时（分钟）"] == 10 and first["结果"] == "批准"
    assert second["结果"] == "调查拒绝" and second["决定用时（分钟）"] == 30
    assert second["批准金额"] in ("", None)
    # the typed reason cannot run as a formula: the cell text starts with a quote
    assert second["原因"].startswith("资料不实：") and EVIL in second["原因"]
    escaped = daily_report.safe_cell(EVIL)
    assert escaped == "'" + EVIL
    for row in rows:
        for value in row:
            assert not (isinstance(value, str) and value.startswith(("=", "+", "-", "@")))


def test_formula_cells_are_escaped_in_the_workbook(tmp_path):
    path = tmp_path / "x.xlsx"
    daily_report.write_workbook(path, "t", [["A1", "=1+1", "+SUM(A1)", "-2", "@x", "ok"]])
    cells = list(load_workbook(path).active.iter_rows(values_only=True))[2][:6]
    assert cells == ("A1", "'=1+1", "'+SUM(A1)", "'-2", "'@x", "ok")
    assert load_workbook(path).active["B3"].data_type == "s"


def test_download_is_scoped_and_audited(db, dataset, client_for):
    reports = daily_report.generate_day(DAY)
    mine = next(r for r in reports if r.institution_id == org_id("I01"))
    theirs = next(r for r in reports if r.institution_id == org_id("I02"))
    client = client_for("institution_admin")
    listing = client.get("/reports/daily/list/").get_data(as_text=True)
    assert "消费易申请明细报表" in listing and "下载" in listing
    got = client.get(f"/reports/daily/download/{mine.id}")
    assert got.status_code == 200 and got.data[:2] == b"PK"
    assert client.get(f"/reports/daily/download/{theirs.id}").status_code == 404
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.target_type == "daily_report").order_by(AuditLog.id.desc())
    ).first()
    assert audit.target_id == str(mine.id) and audit.actor_name == "inst_admin"
    assert client_for("branch_manager").get(f"/reports/daily/download/{mine.id}").status_code in (
        302,
        403,
    )


def test_ods_export_is_idempotent_with_a_valid_manifest(db, dataset, app):
    folder = dw_export.export_day(DAY, force=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {f["name"] for f in manifest["files"]}
    assert {"whitelist_20250310.csv.gz", "credit_line_20250310.csv.gz"} <= names
    assert dw_export.verify(folder) == []
    apps = next(f for f in manifest["files"] if f["name"] == "application_20250310.csv.gz")
    text = gzip.decompress((folder / apps["name"]).read_bytes()).decode("utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == apps["rows"] >= 3
    before = {p.name: p.read_bytes() for p in Path(folder).iterdir()}
    again = dw_export.export_day(DAY)  # same business date: nothing rewritten
    assert {p.name: p.read_bytes() for p in Path(again).iterdir()} == before
    rewritten = dw_export.export_day(DAY, force=True)  # same rows → same bytes
    for f in manifest["files"]:
        assert (rewritten / f["name"]).read_bytes() == before[f["name"]]
    (folder / apps["name"]).write_bytes(b"broken")
    assert dw_export.verify(folder) == [f"checksum mismatch {apps['name']}"]
    dw_export.export_day(DAY)  # a damaged day is written again
    assert dw_export.verify(folder) == []


def test_branch_manager_sets_targets_only_in_their_branch(db, client_for):
    db.session.query(MarketingTarget).delete()
    db.session.commit()
    client = client_for("branch_manager")
    ok = client.post(
        "/reports/targets/add",
        data={
            "month": "2026-11",
            "branch": org_id("I01B01"),
            "manager": user_id("manager1"),
            "applications": 20,
            "approved_amount": "400000",
        },
    )
    assert ok.status_code == 302
    other = client.post(
        "/reports/targets/add",
        data={
            "month": "2026-11",
            "branch": org_id("I01B02"),
            "applications": 5,
            "approved_amount": "1",
        },
    )
    assert other.status_code in (200, 302)
    rows = db.session.scalars(select(MarketingTarget)).all()
    assert [(t.branch_id, t.manager_id, t.institution_id) for t in rows] == [
        (org_id("I01B01"), user_id("manager1"), org_id("I01"))
    ]
    listing = client_for("account_manager_2").get("/reports/targets/list/").get_data(as_text=True)
    assert "400000" not in listing  # manager2 sees only their own targets
