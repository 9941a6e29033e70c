"""Figures for the home page and workbench, every one of them counted inside the user's scope."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from portal.access.scoping import Scope, apply_scope


def _count(session: Session, model, scope: Scope, *where) -> int:
    stmt = apply_scope(select(func.count()).select_from(model).where(*where), model, scope)
    return session.execute(stmt).scalar_one()


def home_figures(session: Session, scope: Scope) -> dict[str, int]:
    return {
        "institutions": _count(session, OrgUnit, scope, OrgUnit.kind == "institution"),
        "branches": _count(session, OrgUnit, scope, OrgUnit.kind == "branch"),
        "staff": _count(session, StaffUser, scope, StaffUser.active.is_(True)),
        "customers": _count(session, Customer, scope),
        "audit_events": _count(session, AuditLog, scope),
    }


def team_workload(session: Session, scope: Scope) -> list[tuple[str, int]]:
    """Customers per account manager inside the scope (branch manager's team view)."""
    stmt = apply_scope(
        select(StaffUser, func.count(Customer.id))
        .join(Customer, Customer.manager_id == StaffUser.id)
        .group_by(StaffUser.id)
        .order_by(func.count(Customer.id).desc()),
        Customer,
        scope,
    )
    return [(str(u), n) for u, n in session.execute(stmt).all()]


def my_recent_customers(session: Session, scope: Scope, limit: int = 10) -> list[Customer]:
    stmt = apply_scope(select(Customer).order_by(Customer.id.desc()).limit(limit), Customer, scope)
    return list(session.execute(stmt).scalars())
