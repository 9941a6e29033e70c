"""An approval case's history (审批记录): its decisions, and whether it was escalated.

Every step of a case writes one ``approval_decision`` row — open, claim, release, approve
(a step), escalate (超权限上报, with the reason naming the authority and the next queue),
reject. The queue page marks a case 升级 when its last moving decision was an escalation.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from models.approvals import ApprovalCase, ApprovalDecision


def record(session: Session, case_id: int, step: int, action: str, actor_id=None, **kw) -> None:
    if action in ("approve", "escalate", "reject"):
        from portal.access import audit

        detail = {
            "action": action,
            "step": step + 1,
            **{k: str(v) for k, v in kw.items() if v is not None},
        }
        audit.record(session, "approval_decided", "approval_case", case_id, detail)
    session.execute(
        insert(ApprovalDecision).values(
            case_id=case_id,
            step_index=step,
            action=action,
            actor_id=actor_id,
            at=dt.datetime.now(),
            **kw,
        )
    )


# the decisions that put a case where it is; claims and releases do not move it
_MOVES = ("open", "approve", "escalate")


def escalated_flag():
    """True when the case reached its current queue by an escalation (超权限上报): its last
    moving decision is "escalate". Evaluated for the page's rows only (indexed by case)."""
    last = (
        select(ApprovalDecision.action)
        .where(ApprovalDecision.case_id == ApprovalCase.id, ApprovalDecision.action.in_(_MOVES))
        .order_by(ApprovalDecision.id.desc())
        .limit(1)
        .correlate(ApprovalCase)
        .scalar_subquery()
    )
    return (last == "escalate").label("escalated")


def history(session: Session, case_id: int) -> list[ApprovalDecision]:
    return list(
        session.scalars(
            select(ApprovalDecision)
            .where(ApprovalDecision.case_id == case_id)
            .order_by(ApprovalDecision.id)
        )
    )
