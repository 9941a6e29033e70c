"""Auto-assignment (自动分派) and reassignment (改派) of applications to account managers.

Rules, chosen per institution (application_settings.assign_rule):

* ``own_then_load`` (default) — the customer's own account manager if they are an
  active account manager of the application's branch, else by load;
* ``load`` — always by load: the active account manager of the branch with the fewest
  open applications; ties go to whoever was assigned least recently (round robin).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from models.access.staff import StaffUser
from models.applications import Application, ApplicationSettings
from portal.access.permissions import ROLE_ACCOUNT_MANAGER
from portal.applications import lifecycle

ASSIGN_RULES = {"own_then_load": "优先客户归属客户经理，否则按工作量", "load": "按工作量均衡分派"}
_settings_cache: dict[int, tuple[float, SimpleNamespace]] = {}


class AssignmentError(ValueError):
    """Chinese message for the branch manager."""


def settings(session: Session, institution_id: int) -> SimpleNamespace:
    """The institution's intake settings, defaults from config (cached 30 s per process)."""
    hit = _settings_cache.get(institution_id)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    cfg = current_app.config
    row = session.get(ApplicationSettings, institution_id)
    value = SimpleNamespace(
        assign_rule=row.assign_rule if row else "own_then_load",
        sla_minutes=row.sla_minutes if row else cfg["APPLICATION_SLA_MINUTES"],
        escalate_minutes=row.escalate_minutes if row else cfg["APPLICATION_ESCALATE_MINUTES"],
        need_info_expire_hours=row.need_info_expire_hours
        if row
        else cfg["APPLICATION_NEED_INFO_EXPIRE_HOURS"],
    )
    _settings_cache[institution_id] = (time.monotonic() + 30, value)
    return value


def is_account_manager(user_id):
    """EXISTS: the staff user `user_id` (a column or value) has the account-manager role —
    the one shape of that rule, for the branch's managers here and the intake's own-manager
    read (portal.channel.intake)."""
    from flask_appbuilder.security.sqla.models import Role, assoc_user_role

    role = Role.__table__
    return (
        select(assoc_user_role.c.user_id)
        .join(role, role.c.id == assoc_user_role.c.role_id)
        .where(assoc_user_role.c.user_id == user_id, role.c.name == ROLE_ACCOUNT_MANAGER)
        .exists()
    )


def _managers(branch_id):
    """Active account managers of a branch (a select of id, phone; Core columns, so it
    also builds the cached least-loaded statement with `branch_id` a bound parameter)."""
    user = StaffUser.__table__
    return select(user.c.id, user.c.phone).where(
        user.c.org_unit_id == branch_id,
        user.c.active.is_(True),
        is_account_manager(user.c.id),
    )


def least_loaded(session: Session, branch_id: int, exclude: tuple[int, ...] = ()) -> Any:
    """(id, phone) of the branch's least-loaded active account manager, or None.

    Load = the manager's open applications; ties go to the manager assigned longest ago
    (round-robin), then the lower id. Per manager, two index probes — the open ones on
    (manager_id, state), the latest assignment on (manager_id, assigned_at) — so the cost
    does not grow with the years of closed applications behind each manager.
    """
    params: dict[str, Any] = {"branch_id": branch_id}
    if exclude:
        params["exclude"] = list(exclude)
    return session.execute(_least_loaded_stmt(bool(exclude)), params).first()


@functools.cache
def _least_loaded_stmt(excluding: bool):
    """Built once (Core columns, bound parameters): the intake calls it per submission
    without an own manager, and building and caching a fresh statement cost more than
    the query."""
    user, app = StaffUser.__table__, Application.__table__
    mgrs = _managers(bindparam("branch_id"))
    if excluding:
        mgrs = mgrs.where(user.c.id.not_in(bindparam("exclude", expanding=True)))
    mgrs = mgrs.subquery()
    open_count = (
        select(func.count())
        .where(app.c.manager_id == mgrs.c.id, app.c.state.in_(lifecycle.OPEN_STATES))
        .scalar_subquery()
    )
    last_assigned = (
        select(func.max(app.c.assigned_at)).where(app.c.manager_id == mgrs.c.id).scalar_subquery()
    )
    return (
        select(mgrs.c.id, mgrs.c.phone)
        .order_by(
            open_count,
            func.coalesce(last_assigned, dt.datetime(1970, 1, 1)),
            mgrs.c.id,
        )
        .limit(1)
    )


def choose(session: Session, branch_id: int, institution_id: int, own_manager_id: int | None):
    """Pick (manager_id, phone) for a new application, or None when the branch has nobody."""
    if own_manager_id and settings(session, institution_id).assign_rule == "own_then_load":
        own = session.execute(_managers(branch_id).where(StaffUser.id == own_manager_id)).first()
        if own is not None:
            return own
    return least_loaded(session, branch_id)


def _check_target(session: Session, branch_id: int, manager_id: int) -> Any:
    target = session.execute(_managers(branch_id).where(StaffUser.id == manager_id)).first()
    if target is None:
        raise AssignmentError("只能改派给本网点在岗的客户经理")
    return target


def reassign(
    session: Session, app_id: int, manager_id: int, actor: lifecycle.Actor, reason: str = ""
) -> lifecycle.Result:
    """Move one application to another account manager of its branch (SMS to the new one)."""
    row = lifecycle.load_row(session, app_id)
    if row is None:
        raise AssignmentError("申请不存在")
    if row.manager_id == manager_id:
        raise AssignmentError("该申请已由此客户经理办理")
    target = _check_target(session, row.branch_id, manager_id)
    action = "assign" if row.state == "submitted" else "reassign"
    return lifecycle.transition(
        app_id,
        action,
        actor,
        reason or "网点负责人改派",
        session=session,
        row=row,
        changes={"manager_id": target.id, "assigned_at": dt.datetime.now()},
        ctx={"manager_phone": target.phone},
    )


def reassign_all(
    session: Session, from_manager_id: int, actor: lifecycle.Actor, to_manager_id: int | None
) -> dict[str, int]:
    """A manager leaves: move every open application of theirs (to one person, or by load)."""
    ids = session.scalars(
        select(Application.id).where(
            Application.manager_id == from_manager_id,
            Application.state.in_(lifecycle.OPEN_STATES),
        )
    ).all()
    moved, failed = 0, 0
    for app_id in ids:
        row = lifecycle.load_row(session, app_id)
        target_id = to_manager_id
        if target_id is None:
            pick = least_loaded(session, row.branch_id, exclude=(from_manager_id,))
            target_id = pick.id if pick else None
        try:
            if target_id is None:
                raise AssignmentError("本网点没有其他在岗客户经理")
            reassign(session, app_id, target_id, actor, "客户经理调离，批量改派")
            moved += 1
        except (AssignmentError, lifecycle.TransitionError):
            session.rollback()
            failed += 1
    return {"moved": moved, "failed": failed}
