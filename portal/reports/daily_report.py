"""The daily application-detail report (消费易申请明细报表): one workbook per business date
and institution, written by the scheduled batch and downloaded in scope from the reports page.

A row per application submitted or moved on the business date: number, masked customer,
branch, account manager, requested and approved amounts, the time of each step, minutes
to decision, outcome and reason. Every text cell goes through `safe_cell`, so nothing a
customer or staff member typed can run as a spreadsheet formula.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from flask import current_app
from openpyxl import Workbook
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.applications import Application, ApplicationEvent
from models.credit import CreditLine
from models.reports import DailyReport
from portal.access.exports import safe_cell
from portal.applications.lifecycle import REJECT_REASONS, STATES
from portal.core.masking import mask_id_number, mask_name

STEPS = [
    ("submit", "提交时间"),
    ("assign", "分派时间"),
    ("start_review", "开始调查"),
    ("pass", "调查通过"),
    ("submit_approval", "提交审批"),
    ("approve", "审批通过"),
    ("disbursed", "额度生效"),
]
DECISIONS = {"approve": "批准", "approval_reject": "审批拒绝", "reject": "调查拒绝"}
HEADER = [
    "申请编号",
    "客户姓名",
    "证件号码",
    "网点",
    "客户经理",
    "申请金额",
    "批准金额",
    *[label for _a, label in STEPS],
    "决定时间",
    "决定用时（分钟）",
    "当前状态",
    "结果",
    "原因",
]


def _fmt(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else ""


def rows_for(session: Session, day: dt.date, institution_id: int) -> list[list]:
    """The report's rows for one institution and business date, oldest submission first."""
    t0 = dt.datetime.combine(day, dt.time())
    t1 = t0 + dt.timedelta(days=1)
    moved = select(ApplicationEvent.application_id).where(
        ApplicationEvent.at >= t0, ApplicationEvent.at < t1
    )
    apps = session.scalars(
        select(Application)
        .where(
            Application.institution_id == institution_id,
            or_(Application.id.in_(moved), Application.submitted_at.between(t0, t1)),
            Application.submitted_at < t1,
        )
        .order_by(Application.submitted_at, Application.id)
    ).all()
    ids = [a.id for a in apps]
    events: dict[int, list[ApplicationEvent]] = {i: [] for i in ids}
    for e in session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id.in_(ids), ApplicationEvent.at < t1)
        .order_by(ApplicationEvent.id)
    ):
        events[e.application_id].append(e)
    lines = dict(
        session.execute(
            select(CreditLine.application_id, CreditLine.limit_amount).where(
                CreditLine.application_id.in_(ids)
            )
        ).all()
    )
    branches = dict(session.execute(select(OrgUnit.id, OrgUnit.name)).all())
    staff = {
        i: f"{last}{first}"
        for i, last, first in session.execute(
            select(StaffUser.id, StaffUser.last_name, StaffUser.first_name)
        ).all()
    }
    return [_row(a, events[a.id], lines.get(a.id), branches, staff) for a in apps]


def _row(a: Application, events, line_limit, branches, staff) -> list:
    first = {}
    for e in events:
        first.setdefault(e.action, e.at)
    decision = next((e for e in reversed(events) if e.action in DECISIONS), None)
    approved = line_limit if line_limit is not None else (a.amount if "approve" in first else None)
    minutes = round((decision.at - a.submitted_at).total_seconds() / 60, 1) if decision else None
    state = events[-1].to_state if events else a.state
    reason = ""
    if decision is not None and decision.action != "approve":
        reason = REJECT_REASONS.get(decision.reason_code or "", "") or (decision.reason or "")
        if decision.reason and reason != decision.reason:
            reason = f"{reason}：{decision.reason}" if reason else decision.reason
    c = a.customer
    return [
        a.app_no,
        mask_name(c.name) if c else "",
        mask_id_number(c.id_number) if c else "",
        branches.get(a.branch_id, ""),
        staff.get(a.manager_id, ""),
        float(a.amount),
        float(approved) if approved is not None else "",
        *[_fmt(first.get(action)) for action, _label in STEPS],
        _fmt(decision.at) if decision else "",
        minutes if minutes is not None else "",
        STATES.get(state, state),
        DECISIONS.get(decision.action, "") if decision else "处理中",
        reason,
    ]


def write_workbook(path: Path, title: str, rows: list[list]) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("申请明细")
    ws.append([title])
    ws.append([safe_cell(h) for h in HEADER])
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    tmp = path.with_suffix(".tmp")
    wb.save(tmp)
    tmp.replace(path)


def report_dir() -> Path:
    return Path(current_app.instance_path) / "reports"


def generate(session: Session, day: dt.date, institution: OrgUnit) -> DailyReport:
    """Write (or rewrite) one institution's workbook for `day` and record it."""
    rows = rows_for(session, day, institution.id)
    folder = report_dir() / day.strftime("%Y%m%d")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"消费易申请明细报表_{institution.code}_{day:%Y%m%d}.xlsx"
    path = folder / name
    write_workbook(path, f"{institution.name} 消费易申请明细报表 {day.isoformat()}", rows)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    report = session.scalar(
        select(DailyReport).where(
            DailyReport.business_date == day, DailyReport.institution_id == institution.id
        )
    ) or DailyReport(business_date=day, institution_id=institution.id)
    report.file_name, report.stored_path, report.rows = name, str(path), len(rows)
    report.sha256, report.generated_at = digest, dt.datetime.now()
    session.add(report)
    session.commit()
    return report


def generate_day(day: dt.date) -> list[DailyReport]:
    from portal.core.extensions import db

    institutions = db.session.scalars(
        select(OrgUnit).where(OrgUnit.kind == "institution").order_by(OrgUnit.code)
    ).all()
    return [generate(db.session, day, inst) for inst in institutions]


def generate_for_slot(slot: dt.datetime) -> str:
    """Scheduled at 01:00: the previous business date's workbooks."""
    reports = generate_day(slot.date() - dt.timedelta(days=1))
    return f"{len(reports)} workbooks, {sum(r.rows for r in reports)} rows"
