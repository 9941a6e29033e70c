"""我的工作台: the to-do list of applications in the user's scope, counts per kind, SLA clocks.

Kinds: new (待调查, just assigned), reviewing (调查中), need_info (待补充资料) and, for
branch managers, unassigned (待分派) and escalated (已升级). The SLA clock runs from
submission; an item is overdue (red) past the institution's SLA minutes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.applications import Application
from models.customers import Customer
from models.whitelist import Product
from portal.access.scoping import Scope, apply_scope
from portal.applications.assignment import settings

KINDS = {
    "new": ("新分配的申请", ("assigned",)),
    "reviewing": ("调查中", ("under_review",)),
    "need_info": ("待补充资料", ("need_info",)),
    "unassigned": ("待分派", ("submitted",)),
}
SORTS = {
    "oldest": (Application.submitted_at.asc(), "最早提交优先"),
    "newest": (Application.submitted_at.desc(), "最新提交优先"),
    "amount": (Application.amount.desc(), "金额从高到低"),
}
ALL_STATES = tuple(s for _label, states in KINDS.values() for s in states)


@dataclass
class Item:
    id: int
    app_no: str
    kind: str
    customer: str
    product: str
    amount: str
    submitted_at: dt.datetime
    minutes: int
    overdue: bool
    escalated: bool


def counts(session: Session, scope: Scope) -> dict[str, int]:
    stmt = apply_scope(
        select(Application.state, func.count())
        .where(Application.state.in_(ALL_STATES))
        .group_by(Application.state),
        Application,
        scope,
    )
    by_state = dict(session.execute(stmt).all())
    out = {k: sum(by_state.get(s, 0) for s in states) for k, (_l, states) in KINDS.items()}
    out["escalated"] = session.execute(
        apply_scope(
            select(func.count())
            .select_from(Application)
            .where(Application.state.in_(ALL_STATES), Application.escalated_at.is_not(None)),
            Application,
            scope,
        )
    ).scalar_one()
    return out


def items(
    session: Session,
    scope: Scope,
    kind: str | None = None,
    sort: str = "oldest",
    overdue_only: bool = False,
    limit: int = 100,
) -> list[Item]:
    states = KINDS[kind][1] if kind in KINDS else ALL_STATES
    stmt = (
        select(
            Application.id,
            Application.app_no,
            Application.state,
            Application.amount,
            Application.submitted_at,
            Application.escalated_at,
            Application.institution_id,
            Customer.name,
            Customer.id_number,
            Product.name.label("product"),
        )
        .join(Customer, Customer.id == Application.customer_id)
        .join(Product, Product.id == Application.product_id)
        .where(Application.state.in_(states))
        .order_by(SORTS.get(sort, SORTS["oldest"])[0], Application.id)
    )
    if kind == "escalated":
        stmt = stmt.where(Application.escalated_at.is_not(None))
    now = dt.datetime.now()
    out = []
    for r in session.execute(apply_scope(stmt, Application, scope).limit(limit)).all():
        from portal.core.masking import mask_id_number, mask_name

        minutes = int((now - r.submitted_at).total_seconds() // 60)
        overdue = minutes >= settings(session, r.institution_id).sla_minutes
        if overdue_only and not overdue:
            continue
        out.append(
            Item(
                id=r.id,
                app_no=r.app_no,
                kind=next(k for k, (_l, s) in KINDS.items() if r.state in s),
                customer=f"{mask_name(r.name)}（{mask_id_number(r.id_number)}）",
                product=r.product,
                amount=f"{r.amount:,.2f}",
                submitted_at=r.submitted_at,
                minutes=minutes,
                overdue=overdue,
                escalated=r.escalated_at is not None,
            )
        )
    return out


def clock(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} 分钟"
    if minutes < 1440:
        return f"{minutes // 60} 小时 {minutes % 60} 分"
    return f"{minutes // 1440} 天 {minutes % 1440 // 60} 小时"
