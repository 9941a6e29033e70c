"""Dashboard figures (看板), every one counted inside the viewer's scope."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from portal.access.scoping import Scope, apply_scope
from portal.reports import charts


def customers_by_branch(session: Session, scope: Scope) -> charts.ChartSpec:
    stmt = apply_scope(
        select(OrgUnit.id, OrgUnit.name, func.count(Customer.id))
        .join(Customer, Customer.branch_id == OrgUnit.id)
        .group_by(OrgUnit.id, OrgUnit.name)
        .order_by(OrgUnit.code),
        Customer,
        scope,
    )
    rows = session.execute(stmt).all()
    drill = {name: url_for("CustomerView.list", _flt_0_branch=bid) for bid, name, _n in rows}
    return charts.bar(
        "customers-by-branch",
        "各网点客户数（点击柱子查看客户）",
        [name for _bid, name, _n in rows],
        {"客户数": [n for *_x, n in rows]},
        drill=drill,
    )


def customers_by_manager(session: Session, scope: Scope, limit: int = 15) -> charts.ChartSpec:
    stmt = apply_scope(
        select(StaffUser.id, StaffUser.last_name, StaffUser.first_name, func.count(Customer.id))
        .join(Customer, Customer.manager_id == StaffUser.id)
        .group_by(StaffUser.id, StaffUser.last_name, StaffUser.first_name)
        .order_by(func.count(Customer.id).desc())
        .limit(limit),
        Customer,
        scope,
    )
    rows = session.execute(stmt).all()
    names = [f"{last}{first}" for _id, last, first, _n in rows]
    drill = {
        f"{last}{first}": url_for("CustomerView.list", _flt_0_manager=uid)
        for uid, last, first, _n in rows
    }
    return charts.bar(
        "customers-by-manager",
        "客户经理管户数（前 15 名）",
        names[::-1],
        {"管户数": [n for *_x, n in rows][::-1]},
        drill=drill,
        horizontal=True,
    )


def customers_by_age(session: Session, scope: Scope) -> charts.ChartSpec:
    year = func.substr(Customer.id_number, 7, 4)
    stmt = apply_scope(
        select(year, func.count()).select_from(Customer).group_by(year), Customer, scope
    )
    bands: dict[str, int] = {"60 后": 0, "70 后": 0, "80 后": 0, "90 后": 0, "00 后": 0}
    for y, n in session.execute(stmt).all():
        decade = (int(y) // 10 * 10) % 100
        label = f"{decade:02d} 后"
        if label in bands:
            bands[label] += n
    return charts.pie("customers-by-age", "客户年龄结构", list(bands.items()))


def overview(session: Session, scope: Scope) -> list[charts.ChartSpec]:
    return [
        customers_by_branch(session, scope),
        customers_by_manager(session, scope),
        customers_by_age(session, scope),
    ]


def default_kind(scope: Scope) -> str:
    """The dashboard a user lands on: own work, a branch, approvals, or an organisation."""
    from flask import g

    roles = {r.name for r in getattr(g.user, "roles", [])}
    if scope.level == "own":
        return "manager"
    if "approver" in roles and "branch_manager" not in roles:
        return "approver"
    return "branch" if scope.level == "branch" else "org"


def tabs_for(scope: Scope, tabs: dict[str, str]) -> list[tuple[str, str]]:
    keep = {
        "own": ("manager",),
        "branch": ("branch", "approver", "customers"),
    }.get(scope.level, ("org", "branch", "approver", "customers"))
    return [(k, v) for k, v in tabs.items() if k in keep]


def nodes_in_scope(session: Session, scope: Scope) -> list[OrgUnit]:
    """Institutions and branches the viewer may narrow to (none below branch level)."""
    if scope.level not in ("all", "institution"):
        return []
    stmt = apply_scope(
        select(OrgUnit).where(OrgUnit.kind.in_(("institution", "branch"))).order_by(OrgUnit.code),
        OrgUnit,
        scope,
    )
    return list(session.scalars(stmt))
