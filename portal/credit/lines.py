"""Credit lines (额度): freeze, unfreeze, close, and limit adjustment through approval.

Status changes are guarded updates (the expected status and version in the WHERE),
each with a history row. A limit change never applies directly: it opens an
approval case (purpose limit_adjust, the institution's policy for it, else its
application policy); when that case's last step approves, the change goes to core
banking through the outbox and applies when the core confirms (portal/credit/limit_adjust.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.approvals import ApprovalCase
from models.credit import CreditLine, CreditLineEvent
from models.whitelist import Product

MOVES = {
    "freeze": ({"active"}, "frozen", "冻结"),
    "unfreeze": ({"frozen"}, "active", "解冻"),
    "close": ({"active", "frozen"}, "closed", "关闭"),
}


def record_event(
    session: Session,
    line: CreditLine,
    action: str,
    reason: str | None = None,
    actor_id: int | None = None,
    *,
    to_status: str | None = None,
    at: dt.datetime | None = None,
    **limits,
) -> None:
    """One row of the line's history (额度变动记录), from its current status (no commit).

    `limits`: old_limit / new_limit for limit changes."""
    session.add(
        CreditLineEvent(
            credit_line_id=line.id,
            action=action,
            from_status=line.status,
            to_status=to_status or line.status,
            actor_id=actor_id,
            reason=reason[:300] if reason else None,
            at=at or dt.datetime.now(),
            **limits,
        )
    )


class LineError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def change_status(
    session: Session, line: CreditLine, action: str, actor_id: int | None, reason: str
) -> None:
    """Freeze / unfreeze / close one line (loaded through the caller's scope)."""
    allowed, to, label = MOVES[action]
    if len((reason or "").strip()) < 2:
        raise LineError(f"请填写{label}原因")
    if line.status not in allowed:
        raise LineError(f"额度当前为“{line.status_label}”，不能{label}")
    now = dt.datetime.now()
    values = {"status": to, "version": line.version + 1}
    if to == "closed":
        values["closed_at"] = now
    done = session.execute(
        update(CreditLine)
        .where(CreditLine.id == line.id, CreditLine.version == line.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        session.rollback()
        raise LineError("额度已被他人修改，请刷新后重试")
    from portal.access import audit

    audit.record(
        session,
        "credit_line_changed",
        "credit_line",
        line.id,
        {"action": action, "from": line.status, "to": to, "reason": reason.strip()},
    )
    record_event(session, line, action, reason.strip(), actor_id, to_status=to, at=now)
    session.commit()


def request_adjustment(session: Session, line: CreditLine, new_limit: str, actor_id, reason):
    """Open the approval case of a limit change; the line changes only when it is approved."""
    from portal.approvals.case_queue import open_case

    try:
        amount = Decimal(str(new_limit).strip().replace(",", ""))
    except InvalidOperation:
        raise LineError("新额度须为数字") from None
    if line.status != "active":
        raise LineError("只有正常状态的额度可以调整")
    product = session.get(Product, line.product_id)
    if not amount.is_finite() or not product.limit_min <= amount <= product.limit_max:
        raise LineError(f"新额度须在产品范围 {product.limit_min}–{product.limit_max} 之内")
    if amount == line.limit_amount:
        raise LineError("新额度与当前额度相同")
    if len((reason or "").strip()) < 2:
        raise LineError("请填写调整原因")
    pending = session.scalar(
        select(ApprovalCase.id).where(
            ApprovalCase.subject == "limit_adjust",
            ApprovalCase.subject_id == line.id,
            ApprovalCase.state == "open",
        )
    )
    if pending:
        raise LineError("该额度已有待审批的调整申请")
    if line.pending_limit is not None:
        raise LineError("该额度已有待核心系统确认的调整，请待其生效后再申请")
    case = open_case(
        session,
        subject="limit_adjust",
        subject_id=line.id,
        ref_no=line.line_no,
        institution_id=line.institution_id,
        branch_id=line.branch_id,
        product_id=line.product_id,
        customer_id=line.customer_id,
        amount=amount,
    )
    record_event(
        session,
        line,
        "adjust_request",
        reason.strip(),
        actor_id,
        old_limit=line.limit_amount,
        new_limit=amount,
    )
    session.commit()
    return case


def apply_adjustment(session: Session, case: ApprovalCase, amount: Decimal, actor_id) -> None:
    """The approved new limit (≤ the requested one) goes to core banking through the outbox
    (inside the decision txn); the line changes when the core confirms (portal/credit/limit_adjust)."""
    from portal.credit import limit_adjust

    line = session.get(CreditLine, case.subject_id)
    limit_adjust.approved(session, line, case.id, amount, actor_id)


def history(session: Session, line_id: int) -> list[CreditLineEvent]:
    return list(
        session.scalars(
            select(CreditLineEvent)
            .where(CreditLineEvent.credit_line_id == line_id)
            .order_by(CreditLineEvent.id)
        )
    )
