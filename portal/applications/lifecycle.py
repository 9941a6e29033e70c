"""The application lifecycle engine (申请生命周期): transitions, their events, history.

The table of states and transitions is declared in portal/applications/lifecycle_table.py and who
may act is checked by portal/applications/lifecycle_guard.py; both are re-exported here, so
``from portal.applications import lifecycle`` stays the one import for callers. :func:`transition`
checks state, role and separation server-side, bumps the optimistic version
(``UPDATE … WHERE id = ? AND version = ?``), writes the event row (who, when, from,
to, why) and the outbox rows of the action's effects in one transaction: two
concurrent clicks can never both succeed.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from models.applications import Application, ApplicationEvent
from portal.applications.lifecycle_guard import (  # noqa: F401  (re-exported: the public API)
    CHANNEL_ACTOR,
    SYSTEM_ACTOR,
    Actor,
    Conflict,
    NotAllowed,
    ReasonRequired,
    TransitionError,
    check,
    staff_actor,
)
from portal.applications.lifecycle_table import (  # noqa: F401  (re-exported: the public API)
    ACTIONS,
    AM,
    APPROVER,
    BM,
    CHANNEL,
    FINAL_STATES,
    OPEN_STATES,
    REJECT_REASONS,
    REVIEW_ACTIONS,
    STATES,
    SYSTEM,
    TRANSITIONS,
    WITHDRAWABLE,
    Rule,
)


@dataclass
class Result:
    application_id: int
    from_state: str
    to_state: str
    version: int
    ctx: dict = field(default_factory=dict)


_ROW = (
    Application.id,
    Application.state,
    Application.version,
    Application.manager_id,
    Application.branch_id,
    Application.institution_id,
    Application.customer_id,
    Application.product_id,
    Application.app_no,
    Application.channel_request_id,
    Application.offer_id,
)


@dataclass(frozen=True)
class _Row:
    """The columns `load_row` returns, for a row built without a query."""

    id: int
    state: str
    version: int
    manager_id: int | None
    branch_id: int
    institution_id: int
    customer_id: int
    product_id: int
    app_no: str
    channel_request_id: str
    offer_id: int


def load_row(session: Session, app_id: int) -> Any:
    return session.execute(select(*_ROW).where(Application.id == app_id)).first()


def transition(
    app_id: int,
    action: str,
    actor: Actor,
    reason: str | None = None,
    expected_version: int | None = None,
    *,
    reason_code: str | None = None,
    changes: dict | None = None,
    session: Session | None = None,
    commit: bool = True,
    row: Any = None,
    ctx: dict | None = None,
) -> Result:
    """Check and apply one transition with its event and outbox rows, in one transaction."""
    from portal.applications import effects as application_effects
    from portal.core.extensions import db

    session = session or db.session
    try:
        row = row or load_row(session, app_id)
        if row is None:
            raise TransitionError("申请不存在")
        if expected_version is not None and expected_version != row.version:
            raise Conflict("申请已被他人处理，请刷新页面后重试")
        rule = check(session, row, action, actor, reason)
        to_state = rule.to or row.state
        now = dt.datetime.now()
        values = {"state": to_state, "version": row.version + 1, "last_action_at": now}
        if to_state in FINAL_STATES:
            values["closed_at"] = now
        if reason_code:
            values["reason_code"] = reason_code
        values.update(changes or {})
        done = session.execute(
            update(Application)
            .where(Application.id == row.id, Application.version == row.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done != 1:
            raise Conflict("申请已被他人处理，请刷新页面后重试")
        session.execute(
            insert(ApplicationEvent).values(
                application_id=row.id,
                action=action,
                from_state=row.state,
                to_state=to_state,
                version=row.version + 1,
                actor_id=actor.user_id,
                actor_kind=actor.kind,
                reason_code=reason_code,
                reason=(reason or "").strip()[:300] or None,
                at=now,
            )
        )
        if rule.releases_offer:  # withdrawn / expired before any approval
            from portal.whitelist import offers

            label = STATES[to_state]
            offers.release(session, row.offer_id, f"申请 {row.app_no} {label}，额度释放", now)
        result = Result(row.id, row.state, to_state, row.version + 1, dict(ctx or {}))
        result.ctx.update(changes or {})
        application_effects.apply(session, row, action, result, now)
        if commit:
            session.commit()
    except Exception:
        if commit:
            session.rollback()
        raise
    if commit:
        application_effects.after_commit(result)
    return result


@functools.cache
def _open_insert(columns: tuple[str, ...]):
    """INSERT … RETURNING id for these columns, built once (the intake's hot path)."""
    table = Application.__table__
    names = (*columns, "state", "version", "manager_id", "assigned_at", "last_action_at")
    return insert(table).values({n: bindparam(n) for n in names}).returning(table.c.id)


def open_application(
    session: Session,
    values: dict,
    actor: Actor,
    manager_id: int | None,
    *,
    manager_phone: str | None = None,
    reason: str | None = None,
) -> Result:
    """Create an application: the ``submit`` event, then — when a manager was chosen — the
    ``assign`` transition checked against the table and applied in the same INSERTs (the
    intake's hot path: inside its statement batch on PostgreSQL, the rows under the id it
    drew, sent with the submission's other writes; otherwise an INSERT … RETURNING and one
    multi-row event insert; then the effects)."""
    from portal.applications import effects as application_effects
    from portal.background import outbox
    from portal.core import multirow
    from portal.core import single_statement as statement_batch

    now = values["submitted_at"]
    events = [
        dict(
            action="submit",
            from_state=None,
            to_state="submitted",
            version=1,
            actor_id=actor.user_id,
            actor_kind=actor.kind,
            reason=reason,
            at=now,
        )
    ]
    state, version = "submitted", 1
    if manager_id is not None:
        rule = TRANSITIONS[("submitted", "assign")]
        assert SYSTEM in rule.roles and rule.to == "assigned"
        state, version = rule.to, 2
        events.append(
            dict(
                action="assign",
                from_state="submitted",
                to_state=state,
                version=2,
                actor_id=None,
                actor_kind=SYSTEM,
                reason="自动分派",
                at=now,
            )
        )
    params = {
        **values,
        "state": state,
        "version": version,
        "manager_id": manager_id,
        "assigned_at": now if manager_id else None,
        "last_action_at": now,
    }
    batch = statement_batch.current(session)
    app_id = batch.take_id("application") if batch is not None else None
    if app_id is not None:  # one statement with the unit's other writes (the intake)
        multirow.insert_rows(session, Application.__table__, [{"id": app_id, **params}])
    else:
        app_id = session.execute(_open_insert(tuple(values)), params).scalar_one()
    multirow.insert_rows(
        session,
        ApplicationEvent.__table__,
        [{**e, "application_id": app_id, "reason_code": None} for e in events],
    )
    row = _Row(
        app_id,
        state,
        version,
        manager_id,
        values["branch_id"],
        values["institution_id"],
        values["customer_id"],
        values["product_id"],
        values["app_no"],
        values["channel_request_id"],
        values["offer_id"],
    )
    # the channel is answered with the state the application reaches here (its response
    # carries the status and label), so neither the submission (no change of status) nor
    # its assignment ("answered") pushes to mobile banking: pushes carry the changes after
    # it (review, need info, decision, withdrawal …). The manager's SMS is sent.
    result = Result(app_id, "submitted", "submitted", 1)
    with outbox.batched(session):  # the outbox items (the manager's SMS): one insert
        application_effects.apply(session, row, "submit", result, now)
        if manager_id is not None:
            assigned = Result(
                app_id,
                "submitted",
                state,
                2,
                {"manager_id": manager_id, "manager_phone": manager_phone, "answered": True},
            )
            application_effects.apply(session, row, "assign", assigned, now)
            result.ctx.update(assigned.ctx)
    result.to_state, result.version = state, version
    return result


def history(session: Session, app_id: int) -> list[ApplicationEvent]:
    return list(
        session.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == app_id)
            .order_by(ApplicationEvent.id)
        )
    )
