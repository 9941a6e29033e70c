"""Approval decisions (审批): submit to approval, approve a step, escalate, reject.

Rules checked server-side, all in one transaction with the lifecycle transition:

* only the holder of the case's claim decides (portal/approvals/case_queue.py);
* separation of duties: nobody who reviewed the application approves it (the
  lifecycle's ``not_reviewer``), and nobody approves two steps of one case;
* the approved amount is ≤ the requested amount (itself ≤ the offer limit) and the
  rate lies within the product's bounds;
* authority: an approver may approve up to min(step limit, own approval_limit); above
  it the case escalates — to the policy's next step, or when there is none, to the
  queue one level up the org tree (branch → institution → province);
* the last step's approval approves the application and starts disbursement (出账).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.applications import Application
from models.approvals import QUEUES, ApprovalCase, ApprovalDecision
from models.whitelist import Product
from portal.access.scoping import Scope
from portal.applications import lifecycle
from portal.approvals import policy as approval_policy
from portal.approvals.case_queue import (
    LEVEL_LIMIT,
    LEVEL_UP,
    QueueError,
    held,
    move,
    open_case,
    record,
)


def submit(session: Session, app_id: int) -> ApprovalCase | None:
    """review_passed → in_approval with its case (system); None if already submitted."""
    app = session.get(Application, app_id)
    if app is None or app.state != "review_passed":
        return None
    lifecycle.transition(
        app_id, "submit_approval", lifecycle.SYSTEM_ACTOR, session=session, commit=False
    )
    return open_case(
        session,
        subject="application",
        subject_id=app.id,
        ref_no=app.app_no,
        institution_id=app.institution_id,
        branch_id=app.branch_id,
        product_id=app.product_id,
        customer_id=app.customer_id,
        amount=app.amount,
    )


def _money(text: Any, label: str) -> Decimal:
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except (InvalidOperation, AttributeError):
        raise QueueError(f"{label}须为数字", 400) from None
    if not value.is_finite():
        raise QueueError(f"{label}须为数字", 400)
    return value


def _authority(case: ApprovalCase, user: Any) -> Decimal:
    own = user.approval_limit if user.approval_limit is not None else Decimal(0)
    return min(case.step_limit, own)


def _advance(session: Session, case: ApprovalCase) -> str:
    """Move the case on after this step: next step of the chain, else one level up."""
    policy = case.policy
    chain = approval_policy.steps(policy, case.band_index)
    if case.step_index + 1 < len(chain):
        nxt = chain[case.step_index + 1]
        move(session, case, case.step_index + 1, nxt.queue, nxt.limit)
        return nxt.queue
    up = LEVEL_UP.get(case.queue_level)
    if up is None:
        raise QueueError("金额超出您的审批权限，且已无上级审批环节", 403)
    move(session, case, case.step_index, up, LEVEL_LIMIT[up])
    return up


def _escalation_reason(amount, authority, level: str, note: str | None) -> str:
    text = f"金额 {amount:,.2f} 元超出本人审批权限 {authority:,.2f} 元，上报{QUEUES[level]}审批"
    note = (note or "").strip()
    return (f"{text}；意见：{note}" if note else text)[:300]


def _separation(session: Session, case: ApprovalCase, user: Any) -> None:
    done_before = session.scalar(
        select(ApprovalDecision.id).where(
            ApprovalDecision.case_id == case.id,
            ApprovalDecision.actor_id == user.id,
            ApprovalDecision.action.in_(("approve", "escalate")),
        )
    )
    if done_before is not None:
        raise QueueError("同一笔业务的不同审批环节须由不同人员审批", 403)


def approve(
    session: Session,
    case_id: int,
    user: Any,
    scope: Scope,
    amount: Any,
    rate: Any,
    reason: str | None = None,
) -> str:
    """Approve the claimed case's current step; returns "approved", "next" or "escalated"."""
    try:
        case = held(session, case_id, user, scope)
        amount, rate = _money(amount, "批准金额"), _money(rate, "利率")
        _separation(session, case, user)
        if amount <= 0 or amount > case.amount:
            raise QueueError(f"批准金额须大于 0 且不超过申请金额 {case.amount}", 400)
        app = _check_subject(session, case, amount, rate)
        actor = lifecycle.staff_actor(user)
        if amount > _authority(case, user):
            step, authority = case.step_index, _authority(case, user)
            level = _advance(session, case)
            why = _escalation_reason(amount, authority, level, reason)
            if app is not None:
                lifecycle.check(
                    session, lifecycle.load_row(session, app.id), "approval_escalate", actor, None
                )
                lifecycle.transition(
                    app.id, "approval_escalate", actor, why, session=session, commit=False
                )
            # the case's history names why and where; the next queue shows it as 升级
            record(
                session, case.id, step, "escalate", user.id, amount=amount, rate=rate, reason=why
            )
            session.commit()
            return "escalated"
        last = case.step_index + 1 >= case.step_count
        if app is not None:
            lifecycle.check(
                session,
                lifecycle.load_row(session, app.id),
                "approve" if last else "approve_step",
                actor,
                reason,
            )
        if not last:
            _advance(session, case)
            if app is not None:
                lifecycle.transition(
                    app.id, "approve_step", actor, reason, session=session, commit=False
                )
            record(
                session,
                case.id,
                case.step_index,
                "approve",
                user.id,
                amount=amount,
                rate=rate,
                reason=reason,
            )
            session.commit()
            return "next"
        _close(session, case, "approved", amount, rate)
        record(
            session,
            case.id,
            case.step_index,
            "approve",
            user.id,
            amount=amount,
            rate=rate,
            reason=reason,
        )
        _finish(session, case, app, actor, amount, rate, reason)
        session.commit()
    except Exception:
        session.rollback()
        raise
    from portal.background import outbox

    outbox.kick()
    return "approved"


def reject(session: Session, case_id: int, user: Any, scope: Scope, reason: str) -> None:
    """Reject the claimed case with a reason; an application's customer gets the SMS."""
    try:
        case = held(session, case_id, user, scope)
        if len((reason or "").strip()) < 2:
            raise QueueError("请填写拒绝原因", 400)
        _close(session, case, "rejected", None, None)
        record(session, case.id, case.step_index, "reject", user.id, reason=reason.strip()[:300])
        if case.subject == "application":
            lifecycle.transition(
                case.subject_id,
                "approval_reject",
                lifecycle.staff_actor(user),
                reason,
                session=session,
                commit=False,
            )
        session.commit()
    except Exception:
        session.rollback()
        raise
    from portal.background import outbox

    outbox.kick()


def _close(session: Session, case: ApprovalCase, state: str, amount, rate) -> None:
    done = session.execute(
        update(ApprovalCase)
        .where(
            ApprovalCase.id == case.id,
            ApprovalCase.version == case.version,
            ApprovalCase.state == "open",
        )
        .values(
            state=state,
            approved_amount=amount,
            approved_rate=rate,
            closed_at=dt.datetime.now(),
            version=case.version + 1,
            claimed_by=None,
            claim_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise QueueError("该审批已被他人处理，请刷新")


def _check_subject(session: Session, case: ApprovalCase, amount: Decimal, rate: Decimal):
    product = session.get(Product, case.product_id)
    if not product.rate_min <= rate <= product.rate_max:
        raise QueueError(f"利率须在产品范围 {product.rate_min}%–{product.rate_max}% 之内", 400)
    if case.subject != "application":
        return None
    app = session.get(Application, case.subject_id)
    if amount > app.offer_limit:
        raise QueueError(f"批准金额不能超过预授信额度 {app.offer_limit}", 400)
    return app


def _finish(session, case, app, actor, amount, rate, reason) -> None:
    if case.subject == "limit_adjust":
        from portal.credit import lines as credit_lines

        credit_lines.apply_adjustment(session, case, amount, actor.user_id)
        return
    lifecycle.transition(
        app.id,
        "approve",
        actor,
        reason,
        session=session,
        commit=False,
        ctx={"approved_amount": str(amount), "approved_rate": str(rate)},
    )
    from portal.credit import disbursement

    disbursement.prepare(session, app, case, amount, rate)
    if case.policy.disbursement == "auto":
        disbursement.start(session, app.id)
