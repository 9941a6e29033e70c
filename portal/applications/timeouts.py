"""Application batch (申请超时处理): escalate untouched work, expire abandoned applications.

* escalate — an open application (待分派/待调查/调查中/待补充资料) untouched for the
  institution's ``escalate_minutes`` is marked escalated (once) and shows on the branch
  manager's workbench as 已超时升级;
* expire — an application waiting for the customer's information (待补充资料) longer than
  ``need_info_expire_hours`` expires; mobile banking is told through the outbox.

Every change goes through the lifecycle (event row, optimistic version), so a manager
acting at the same moment simply wins and the batch skips that application.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from models.applications import Application
from portal.applications import lifecycle
from portal.applications.assignment import settings

log = logging.getLogger(__name__)
BATCH_LIMIT = 5000
ESCALATABLE = ("submitted", *lifecycle.OPEN_STATES)


def _run(session, now: dt.datetime, action: str, states, field, threshold, reason) -> int:
    """Apply `action` to candidates whose `field` is older than their institution's threshold."""
    floor = now - dt.timedelta(minutes=1)
    stmt = (
        select(Application.id, Application.institution_id, field.label("since"))
        .where(Application.state.in_(states), field < floor)
        .order_by(Application.id)
        .limit(BATCH_LIMIT)
    )
    if action == "escalate":
        stmt = stmt.where(Application.escalated_at.is_(None))
    rows = session.execute(stmt).all()
    session.rollback()
    done = 0
    for row in rows:
        limit = threshold(settings(session, row.institution_id))
        if row.since > now - limit:
            continue
        # escalation is not work on the application: its last-action clock keeps running
        changes = (
            {"escalated_at": now, "last_action_at": row.since} if action == "escalate" else None
        )
        try:
            lifecycle.transition(
                row.id,
                action,
                lifecycle.SYSTEM_ACTOR,
                reason(limit),
                session=session,
                changes=changes,
            )
            done += 1
        except lifecycle.TransitionError:  # someone acted meanwhile: nothing to do
            continue
    return done


def run(session, now: dt.datetime | None = None) -> dict[str, int]:
    now = now or dt.datetime.now()
    expired = _run(
        session,
        now,
        "expire",
        ("need_info",),
        Application.last_action_at,
        lambda s: dt.timedelta(hours=s.need_info_expire_hours),
        lambda d: f"客户超过 {int(d.total_seconds() // 3600)} 小时未补充资料，申请失效",
    )
    escalated = _run(
        session,
        now,
        "escalate",
        ESCALATABLE,
        Application.last_action_at,
        lambda s: dt.timedelta(minutes=s.escalate_minutes),
        lambda d: f"超过 {int(d.total_seconds() // 60)} 分钟未处理，已升级至网点负责人",
    )
    if escalated or expired:
        log.info("application batch: %s escalated, %s expired", escalated, expired)
    return {"escalated": escalated, "expired": expired}


def run_for_slot(slot: dt.datetime) -> dict[str, int]:
    """Schedule entry (ledger-claimed slot)."""
    from portal.core.extensions import db

    return run(db.session)
