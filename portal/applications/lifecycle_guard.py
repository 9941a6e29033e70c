"""Who may take a lifecycle action (申请操作权限): actors, refusals and the server-side check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.applications import ApplicationEvent
from portal.applications.lifecycle_table import (
    ACTIONS,
    AM,
    APPROVER,
    BM,
    CHANNEL,
    REVIEW_ACTIONS,
    STATES,
    SYSTEM,
    TRANSITIONS,
    Rule,
)


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user with roles, or the system / a channel (user_id None)."""

    user_id: int | None
    roles: frozenset[str]
    branch_id: int | None = None

    @property
    def kind(self) -> str:
        for role in (SYSTEM, CHANNEL, APPROVER, BM, AM):
            if role in self.roles:
                return role
        return next(iter(sorted(self.roles)), "unknown")


SYSTEM_ACTOR = Actor(None, frozenset({SYSTEM}))
CHANNEL_ACTOR = Actor(None, frozenset({CHANNEL}))


def staff_actor(user: Any) -> Actor:
    return Actor(user.id, frozenset(r.name for r in user.roles), user.org_unit_id)


class TransitionError(Exception):
    """A refused transition; `code` is stable, the message Chinese."""

    code = "ILLEGAL_TRANSITION"
    status = 409

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(TransitionError):
    code = "NOT_ALLOWED"
    status = 403


class Conflict(TransitionError):
    code = "VERSION_CONFLICT"


class ReasonRequired(TransitionError):
    code = "REASON_REQUIRED"
    status = 400


def check(session: Session, row: Any, action: str, actor: Actor, reason: str | None) -> Rule:
    """Raise unless `actor` may take `action` on the application in its current state."""
    rule = TRANSITIONS.get((row.state, action))
    if rule is None:
        label = ACTIONS.get(action, action)
        raise TransitionError(f"申请当前状态为“{STATES[row.state]}”，不能执行“{label}”")
    if not rule.roles & actor.roles:
        raise NotAllowed("您的角色无权执行此操作")
    if rule.separation == "owner" and actor.user_id != row.manager_id:
        raise NotAllowed("只有该申请的经办客户经理可以执行此操作")
    if rule.separation == "branch" and SYSTEM not in actor.roles:
        if actor.branch_id != row.branch_id:
            raise NotAllowed("只能处理本网点的申请")
    if rule.separation == "not_reviewer" and actor.user_id is not None:
        reviewed = session.scalar(
            select(ApplicationEvent.id).where(
                ApplicationEvent.application_id == row.id,
                ApplicationEvent.actor_id == actor.user_id,
                ApplicationEvent.action.in_(REVIEW_ACTIONS),
            )
        )
        if reviewed is not None:
            raise NotAllowed("审查与审批须由不同人员办理：您已参与该申请的调查")
    if rule.needs_reason and len((reason or "").strip()) < 2:
        raise ReasonRequired("请填写原因")
    return rule
