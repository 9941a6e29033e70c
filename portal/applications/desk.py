"""The account manager's work on one application (申请调查): notes, contact attempts,
credit-bureau inquiry, unmasking, and the actions the current user may take."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.access.staff import StaffUser
from models.applications import Application, ApplicationNote
from models.integrations import CreditInquiry
from portal.access import audit
from portal.applications import lifecycle
from portal.applications.assignment import _managers

CONTACT_OUTCOMES = {
    "reached": "已接通",
    "no_answer": "无人接听",
    "busy": "占线",
    "wrong_number": "号码错误",
    "call_back": "约定回电",
}
# review buttons per state: action, label, button style, whether a reason is asked
BUTTONS = {
    "start_review": ("开始调查", "primary", False),
    "pass": ("调查通过", "success", False),
    "request_info": ("要求补充资料", "warning", True),
    "info_received": ("资料已补充，继续调查", "primary", False),
    "reject": ("拒绝", "danger", True),
}


class DeskError(ValueError):
    """Chinese message for the page."""


def add_note(
    session: Session,
    app: Application,
    author_id: int,
    kind: str,
    body: str,
    outcome: str | None = None,
) -> ApplicationNote:
    body = (body or "").strip()
    if kind not in ("note", "contact"):
        raise DeskError("记录类型无效")
    if kind == "contact" and outcome not in CONTACT_OUTCOMES:
        raise DeskError("请选择联系结果")
    if kind == "note" and len(body) < 2:
        raise DeskError("请填写调查记录内容")
    if len(body) > 2000:
        raise DeskError("内容不能超过 2000 字")
    if app.state in lifecycle.FINAL_STATES:
        raise DeskError("申请已结束，不能再添加记录")
    note = ApplicationNote(
        application_id=app.id,
        kind=kind,
        outcome=outcome if kind == "contact" else None,
        body=body or CONTACT_OUTCOMES.get(outcome or "", ""),
        author_id=author_id,
        at=dt.datetime.now(),
    )
    session.add(note)
    session.commit()
    return note


def notes(session: Session, app_id: int) -> list[ApplicationNote]:
    return list(
        session.scalars(
            select(ApplicationNote)
            .where(ApplicationNote.application_id == app_id)
            .order_by(ApplicationNote.id.desc())
        )
    )


def inquiries(session: Session, customer_id: int) -> list[CreditInquiry]:
    return list(
        session.scalars(
            select(CreditInquiry)
            .where(CreditInquiry.customer_id == customer_id)
            .order_by(CreditInquiry.id.desc())
            .limit(20)
        )
    )


def inquire(session: Session, app: Application, user_id: int) -> dict:
    """征信查询 through the bureau adapter: refused (and logged) without a valid authorization."""
    from portal.integrations import credit_bureau
    from portal.integrations.base import IntegrationError

    if app.manager_id != user_id:
        raise DeskError("只有经办客户经理可以查询征信")
    if app.state not in lifecycle.OPEN_STATES:
        raise DeskError("申请当前状态不能查询征信")
    try:
        return credit_bureau.inquire(app.customer_id, "loan_approval", requested_by=user_id)
    except credit_bureau.NoAuthorization as exc:
        raise DeskError(str(exc)) from None
    except IntegrationError:
        raise DeskError("征信系统暂时不可用，请稍后重试") from None


def unmask(session: Session, app: Application, reason: str) -> dict[str, str]:
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise DeskError("请填写查看明文的事由（至少 4 个字）")
    audit.record(
        session,
        "unmask",
        "customer",
        app.customer_id,
        {"reason": reason[:200], "fields": ["id_number", "mobile"], "application": app.app_no},
    )
    session.commit()
    c = app.customer
    return {"id_number": c.id_number, "mobile": c.mobile or "", "name": c.name}


def buttons(app: Application, user: Any) -> list[tuple[str, str, str, bool]]:
    """The review actions the lifecycle would accept from this user now (no guessing in the UI)."""
    actor = lifecycle.staff_actor(user)
    out = []
    for action, (label, style, ask) in BUTTONS.items():
        rule = lifecycle.TRANSITIONS.get((app.state, action))
        if rule and rule.roles & actor.roles and app.manager_id == actor.user_id:
            out.append((action, label, style, ask))
    return out


def reassign_targets(session: Session, app: Application) -> list[Any]:
    if app.state not in (*lifecycle.OPEN_STATES, "submitted"):
        return []
    rows = session.execute(_managers(app.branch_id)).all()
    ids = [r.id for r in rows if r.id != app.manager_id]
    return list(session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))) if ids else []


def staff_names(session: Session, app_id: int) -> dict[int, str]:
    """Names of the staff who acted on an application (for its history)."""
    from models.applications import ApplicationEvent

    ids = select(ApplicationEvent.actor_id).where(ApplicationEvent.application_id == app_id)
    return {
        u.id: u.display_name
        for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
    }


def managers_in_scope(session: Session) -> list[StaffUser]:
    """Account managers inside the current user's scope (for bulk reassignment)."""
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role

    from portal.access.permissions import ROLE_ACCOUNT_MANAGER
    from portal.access.scoping import apply_scope

    stmt = (
        select(StaffUser)
        .join(assoc_user_role, assoc_user_role.c.user_id == StaffUser.id)
        .join(Role, Role.id == assoc_user_role.c.role_id)
        .where(Role.name == ROLE_ACCOUNT_MANAGER)
        .order_by(StaffUser.id)
    )
    return list(session.scalars(apply_scope(stmt, StaffUser)))
