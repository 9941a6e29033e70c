"""Approval queues (审批队列): open cases, list them in scope, claim and release.

A case's queue lives on an org node — the application's branch, its institution, or
the province (central) — and an approver works the queue of their own node, inside
their data scope (portal/access/scoping.py). Claiming is one conditional UPDATE, so two
approvers never hold one case: on PostgreSQL "claim next" first picks the oldest free
case with ``SELECT … FOR UPDATE SKIP LOCKED`` (concurrent claimers skip each other's
rows instead of queueing); SQLite has no row locks but runs one writer at a time, so
the same guarded UPDATE is the correct equivalent there. Claims expire, so an
abandoned case returns to the queue by itself.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.approvals import ApprovalCase
from portal.access.scoping import Scope, apply_scope
from portal.approvals import policy as approval_policy
from portal.approvals.history import escalated_flag, history, record  # noqa: F401 (re-exported)

CLAIM_MINUTES = 30
SLA_MINUTES = 60
LEVEL_UP = {"branch": "institution", "institution": "central"}
_province: dict[str, int] = {}


class QueueError(Exception):
    """A refused queue action; the message is Chinese."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.message, self.status = message, status


def province_id(session: Session) -> int:
    if "id" not in _province:
        _province["id"] = session.scalar(select(OrgUnit.id).where(OrgUnit.kind == "province"))
    return _province["id"]


def node_for(session: Session, level: str, branch_id: int, institution_id: int) -> int:
    if level == "branch":
        return branch_id
    if level == "institution":
        return institution_id
    return province_id(session)


def open_case(
    session: Session,
    *,
    subject: str,
    subject_id: int,
    ref_no: str,
    institution_id: int,
    branch_id: int,
    product_id: int,
    customer_id: int,
    amount: Decimal,
) -> ApprovalCase:
    """Resolve the policy version and band, and put the case in its first step's queue."""
    purpose = "limit_adjust" if subject == "limit_adjust" else "application"
    policy, band = approval_policy.resolve(session, institution_id, product_id, amount, purpose)
    chain = approval_policy.steps(policy, band)
    now = dt.datetime.now()
    case = ApprovalCase(
        subject=subject,
        subject_id=subject_id,
        ref_no=ref_no,
        policy_id=policy.id,
        band_index=band,
        step_index=0,
        step_count=len(chain),
        queue_level=chain[0].queue,
        queue_node_id=node_for(session, chain[0].queue, branch_id, institution_id),
        step_role=chain[0].role,
        step_limit=chain[0].limit,
        institution_id=institution_id,
        branch_id=branch_id,
        product_id=product_id,
        customer_id=customer_id,
        amount=amount,
        state="open",
        opened_at=now,
        step_opened_at=now,
        version=1,
    )
    session.add(case)
    session.flush()
    record(session, case.id, 0, "open")
    return case


def move(session: Session, case: ApprovalCase, step: int, level: str, limit: Decimal) -> None:
    """Put the case into another step/queue, unclaimed, its SLA clock restarted."""
    now = dt.datetime.now()
    done = session.execute(
        update(ApprovalCase)
        .where(ApprovalCase.id == case.id, ApprovalCase.version == case.version)
        .values(
            step_index=step,
            queue_level=level,
            step_limit=limit,
            queue_node_id=node_for(session, level, case.branch_id, case.institution_id),
            claimed_by=None,
            claimed_at=None,
            claim_expires_at=None,
            step_opened_at=now,
            version=case.version + 1,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise QueueError("该审批已被他人处理，请刷新")


def _workable(session: Session, user: Any, scope: Scope):
    return and_(
        ApprovalCase.state == "open",
        ApprovalCase.queue_node_id == user.org_unit_id,
    )


def queue_page(
    session: Session,
    user: Any,
    scope: Scope,
    after: tuple | None = None,
    limit: int = 20,
    mine: bool = False,
) -> list[Any]:
    """One page of the user's queue, oldest first, by keyset (no COUNT, no OFFSET)."""
    stmt = (
        select(
            ApprovalCase.id,
            ApprovalCase.ref_no,
            ApprovalCase.amount,
            ApprovalCase.branch_id,
            ApprovalCase.subject,
            ApprovalCase.step_index,
            ApprovalCase.step_count,
            ApprovalCase.queue_level,
            ApprovalCase.claimed_by,
            ApprovalCase.claim_expires_at,
            ApprovalCase.opened_at,
            ApprovalCase.step_opened_at,
            escalated_flag(),
        )
        .where(_workable(session, user, scope))
        .order_by(ApprovalCase.step_opened_at, ApprovalCase.id)
        .limit(limit)
    )
    if mine:
        stmt = stmt.where(ApprovalCase.claimed_by == user.id)
    if after:
        at, last_id = after
        stmt = stmt.where(
            or_(
                ApprovalCase.step_opened_at > at,
                and_(ApprovalCase.step_opened_at == at, ApprovalCase.id > last_id),
            )
        )
    return session.execute(apply_scope(stmt, ApprovalCase, scope)).all()


def counts(session: Session, user: Any, scope: Scope) -> dict[str, int]:
    """Open, claimed-by-me and over-SLA cases in the user's queue (one indexed query)."""
    now = dt.datetime.now()
    overdue = now - dt.timedelta(minutes=SLA_MINUTES)
    stmt = select(
        func.count(),
        func.count().filter(ApprovalCase.claimed_by == user.id),
        func.count().filter(ApprovalCase.step_opened_at < overdue),
    ).where(_workable(session, user, scope))
    total, mine, late = session.execute(apply_scope(stmt, ApprovalCase, scope)).one()
    return {"open": total, "mine": mine, "overdue": late}


def scope_counts(session: Session, scope: Scope) -> list[tuple[str, int, int]]:
    """Open cases per queue level in scope, with over-SLA counts (branch manager's view)."""
    overdue = dt.datetime.now() - dt.timedelta(minutes=SLA_MINUTES)
    stmt = (
        select(
            ApprovalCase.queue_level,
            func.count(),
            func.count().filter(ApprovalCase.step_opened_at < overdue),
        )
        .where(ApprovalCase.state == "open")
        .group_by(ApprovalCase.queue_level)
    )
    return [tuple(r) for r in session.execute(apply_scope(stmt, ApprovalCase, scope)).all()]


def _free(now: dt.datetime):
    return or_(ApprovalCase.claimed_by.is_(None), ApprovalCase.claim_expires_at < now)


def claim(session: Session, case_id: int, user: Any, scope: Scope) -> None:
    """Take one case of the user's queue; refused if another approver holds it."""
    now = dt.datetime.now()
    stmt = (
        update(ApprovalCase)
        .where(ApprovalCase.id == case_id, _workable(session, user, scope), _free(now))
        .values(
            claimed_by=user.id,
            claimed_at=now,
            claim_expires_at=now + dt.timedelta(minutes=CLAIM_MINUTES),
        )
        .execution_options(synchronize_session=False)
    )
    stmt = stmt.where(_scope_ids(scope))
    if session.execute(stmt).rowcount != 1:
        session.rollback()
        raise QueueError("该审批已被其他审批人领取或不在您的队列中")
    record(session, case_id, _step(session, case_id), "claim", user.id)
    session.commit()


def claim_next(session: Session, user: Any, scope: Scope) -> int | None:
    """Take the oldest free case of the user's queue; None when the queue is empty."""
    now = dt.datetime.now()
    pick = (
        select(ApprovalCase.id)
        .where(_workable(session, user, scope), _free(now))
        .order_by(ApprovalCase.step_opened_at, ApprovalCase.id)
        .limit(1)
    )
    pick = apply_scope(pick, ApprovalCase, scope)
    for _ in range(5):
        if session.get_bind().dialect.name == "postgresql":
            case_id = session.scalar(pick.with_for_update(skip_locked=True))
        else:
            case_id = session.scalar(pick)
        if case_id is None:
            session.rollback()
            return None
        try:
            claim(session, case_id, user, scope)
            return case_id
        except QueueError:
            continue  # taken between pick and claim (SQLite): pick again
    return None


def release(session: Session, case_id: int, user: Any) -> None:
    """Give a claimed case back to the queue (only its holder can)."""
    done = session.execute(
        update(ApprovalCase)
        .where(
            ApprovalCase.id == case_id,
            ApprovalCase.claimed_by == user.id,
            ApprovalCase.state == "open",
        )
        .values(claimed_by=None, claimed_at=None, claim_expires_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        session.rollback()
        raise QueueError("您未领取该审批，无法释放")
    record(session, case_id, _step(session, case_id), "release", user.id)
    session.commit()


def _scope_ids(scope: Scope):
    from portal.access.scoping import scope_clause

    return scope_clause(ApprovalCase, scope)


def _step(session: Session, case_id: int) -> int:
    return session.scalar(select(ApprovalCase.step_index).where(ApprovalCase.id == case_id))


def held(session: Session, case_id: int, user: Any, scope: Scope) -> ApprovalCase:
    """The case, provided `user` holds an unexpired claim on it and it lies in scope."""
    case = session.scalar(
        apply_scope(select(ApprovalCase).where(ApprovalCase.id == case_id), ApprovalCase, scope)
    )
    if case is None:
        raise QueueError("审批不存在", 404)
    if case.state != "open":
        raise QueueError(f"该审批{case.state_label}，不能再处理")
    if case.claimed_by != user.id or (case.claim_expires_at or dt.datetime.min) < dt.datetime.now():
        raise QueueError("请先领取该审批（或您的领取已超时）")
    return case


LEVEL_LIMIT = {"institution": Decimal("99999999.99"), "central": Decimal("99999999.99")}
