"""Dashboard figures read from the summary tables only (never the raw tables), in scope.

Every query goes through `apply_scope` with the viewer's (possibly narrowed) scope; the
grain read is the coarsest that still answers: manager rows for one person, branch rows
for a branch, institution rows above that.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.reports import AggDaily, AggOffer, AggOpen, MarketingTarget
from portal.access.scoping import (
    LEVEL_ALL,
    LEVEL_BRANCH,
    LEVEL_INSTITUTION,
    LEVEL_OWN,
    Scope,
    apply_scope,
)

FUNNEL = ("sms_sent", "submitted", "approved", "active")
D = AggDaily


@dataclass(frozen=True)
class Filters:
    """Date range (inclusive) and the org node the viewer narrowed to, already in scope."""

    start: dt.date
    end: dt.date
    scope: Scope

    @property
    def days(self) -> list[dt.date]:
        n = (self.end - self.start).days + 1
        return [self.start + dt.timedelta(days=i) for i in range(max(n, 0))]


def grain_for(scope: Scope) -> str:
    return {LEVEL_OWN: "m", LEVEL_BRANCH: "b"}.get(scope.level, "i")


def narrow(session: Session, scope: Scope, node_id: int | None) -> Scope:
    """The viewer's scope narrowed to an org node inside it (else unchanged)."""
    if not node_id or scope.level in (LEVEL_OWN, LEVEL_BRANCH):
        return scope
    node = session.get(OrgUnit, node_id)
    if node is None:
        return scope
    if node.kind == "institution" and scope.level == LEVEL_ALL:
        return Scope(LEVEL_INSTITUTION, scope.user_id, institution_id=node.id)
    inst = node.institution_id
    if node.kind == "branch" and (scope.level == LEVEL_ALL or inst == scope.institution_id):
        return Scope(LEVEL_BRANCH, scope.user_id, institution_id=inst, branch_id=node.id)
    return scope


def _daily(f: Filters, *cols):
    stmt = select(*cols).where(D.grain == grain_for(f.scope), D.day >= f.start, D.day <= f.end)
    return apply_scope(stmt, D, f.scope)


def totals(session: Session, f: Filters) -> dict[str, tuple[int, float]]:
    """metric → (count, total) over the range."""
    rows = session.execute(
        _daily(f, D.metric, func.sum(D.n), func.sum(D.total)).group_by(D.metric)
    ).all()
    return {m: (int(n or 0), float(t or 0)) for m, n, t in rows}


def per_day(session: Session, f: Filters, metrics: tuple[str, ...]) -> dict[str, list[int]]:
    rows = session.execute(
        _daily(f, D.day, D.metric, func.sum(D.n))
        .where(D.metric.in_(metrics))
        .group_by(D.day, D.metric)
    ).all()
    index = {d: i for i, d in enumerate(f.days)}
    out = {m: [0] * len(index) for m in metrics}
    for day, metric, n in rows:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
        if day in index:
            out[metric][index[day]] = int(n)
    return out


def whitelist_stock(session: Session, scope: Scope) -> dict[str, tuple[int, float]]:
    stmt = apply_scope(
        select(AggOffer.status, func.sum(AggOffer.n), func.sum(AggOffer.limit_total)).group_by(
            AggOffer.status
        ),
        AggOffer,
        scope,
    )
    return {s: (int(n or 0), float(t or 0)) for s, n, t in session.execute(stmt).all()}


def by_unit(session: Session, f: Filters, metrics: tuple[str, ...]) -> list[tuple]:
    """(unit id, unit name, {metric: (n, total)}) per institution (HQ) or branch (below)."""
    by_inst = f.scope.level == LEVEL_ALL
    unit = D.institution_id if by_inst else D.branch_id
    grain = "i" if by_inst else "b"
    stmt = apply_scope(
        select(unit, D.metric, func.sum(D.n), func.sum(D.total))
        .where(D.grain == grain, D.day >= f.start, D.day <= f.end, D.metric.in_(metrics))
        .group_by(unit, D.metric),
        D,
        f.scope,
    )
    data: dict[int, dict] = defaultdict(dict)
    for uid, metric, n, total in session.execute(stmt).all():
        data[uid][metric] = (int(n or 0), float(total or 0))
    names = _names(session, OrgUnit, data)
    return [(uid, names.get(uid, str(uid)), data[uid]) for uid in sorted(data, key=names.get)]


def branches_ranked(session: Session, f: Filters, metric: str = "submitted") -> list[tuple]:
    stmt = apply_scope(
        select(D.branch_id, func.sum(D.n))
        .where(D.grain == "b", D.day >= f.start, D.day <= f.end, D.metric == metric)
        .group_by(D.branch_id)
        .order_by(func.sum(D.n).desc()),
        D,
        f.scope,
    )
    rows = session.execute(stmt).all()
    names = _names(session, OrgUnit, {r[0] for r in rows})
    return [(bid, names.get(bid, str(bid)), int(n)) for bid, n in rows]


def offer_use(session: Session, scope: Scope) -> list[tuple]:
    """(unit id, name, offers, applied, limit total) per institution (HQ) or branch."""
    unit = AggOffer.institution_id if scope.level == LEVEL_ALL else AggOffer.branch_id
    applied = func.sum(func.coalesce(AggOffer.n, 0)).filter(AggOffer.status == "applied")
    stmt = apply_scope(
        select(unit, func.sum(AggOffer.n), applied, func.sum(AggOffer.limit_total)).group_by(unit),
        AggOffer,
        scope,
    )
    rows = session.execute(stmt).all()
    names = _names(session, OrgUnit, {r[0] for r in rows})
    return [
        (u, names.get(u, str(u)), int(n or 0), int(a or 0), float(t or 0)) for u, n, a, t in rows
    ]


def per_manager(session: Session, f: Filters, metrics: tuple[str, ...]) -> dict[int, dict]:
    stmt = apply_scope(
        select(D.manager_id, D.metric, func.sum(D.n), func.sum(D.total))
        .where(D.grain == "m", D.day >= f.start, D.day <= f.end, D.metric.in_(metrics))
        .where(D.manager_id.is_not(None))
        .group_by(D.manager_id, D.metric),
        D,
        f.scope,
    )
    out: dict[int, dict] = defaultdict(dict)
    for mid, metric, n, total in session.execute(stmt).all():
        out[mid][metric] = (int(n or 0), float(total or 0))
    return out


def open_counts(session: Session, scope: Scope, states: tuple[str, ...]) -> list[tuple]:
    """(manager id, state, n) of open applications, summed in SQL."""
    stmt = (
        select(AggOpen.manager_id, AggOpen.state, func.sum(AggOpen.n))
        .where(AggOpen.state.in_(states))
        .group_by(AggOpen.manager_id, AggOpen.state)
    )
    return [(m, s, int(n)) for m, s, n in session.execute(apply_scope(stmt, AggOpen, scope))]


def open_ages(session: Session, scope: Scope, state: str) -> list[tuple]:
    """(hour the state was entered, n) of open applications in `state`."""
    stmt = (
        select(AggOpen.since_hour, func.sum(AggOpen.n))
        .where(AggOpen.state == state)
        .group_by(AggOpen.since_hour)
    )
    return [(h, int(n)) for h, n in session.execute(apply_scope(stmt, AggOpen, scope))]


def open_by_branch(session: Session, scope: Scope, state: str) -> list[tuple]:
    stmt = apply_scope(
        select(AggOpen.branch_id, func.sum(AggOpen.n))
        .where(AggOpen.state == state)
        .group_by(AggOpen.branch_id),
        AggOpen,
        scope,
    )
    rows = session.execute(stmt).all()
    names = _names(session, OrgUnit, {r[0] for r in rows})
    return [(b, names.get(b, str(b)), int(n)) for b, n in rows]


def targets(session: Session, scope: Scope, month: str) -> list[MarketingTarget]:
    stmt = apply_scope(
        select(MarketingTarget).where(MarketingTarget.month == month), MarketingTarget, scope
    )
    return list(session.scalars(stmt))


def staff_names(session: Session, ids) -> dict[int, str]:
    ids = [i for i in ids if i]
    if not ids:
        return {}
    rows = session.execute(
        select(StaffUser.id, StaffUser.last_name, StaffUser.first_name).where(StaffUser.id.in_(ids))
    ).all()
    return {i: f"{last}{first}" for i, last, first in rows}


def _names(session: Session, model, ids) -> dict[int, str]:
    ids = [i for i in ids if i]
    if not ids:
        return {}
    return dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all())
