"""Summary tables (汇总表) kept current incrementally, and rebuilt from scratch on demand.

The refresh job reads what changed since its watermark (application events, marketing
SMS, offers — each re-read with a small overlap so a late commit is never missed),
finds the (branch, day range) keys those changes touch, and recomputes exactly those
keys with the set-based queries of portal/reports/aggregate_sql.py: delete, then insert.
Recomputing a key is idempotent, so overlaps, retries and two refreshes in a row are
harmless, and the summary always equals a recount of the raw rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from models.applications import Application, ApplicationEvent
from models.reports import AggDaily, AggOffer, AggOpen, AggWatermark
from models.sms.messages import SmsMessage
from models.whitelist import Offer
from portal.core.sqlfuncs import day_of
from portal.reports import aggregate_sql as q

log = logging.getLogger(__name__)
OVERLAP = dt.timedelta(minutes=5)
A, E = Application, ApplicationEvent


@dataclass
class Touched:
    """Branch → [first day, last day] to recompute, and the institution of each branch."""

    days: dict[int, list[dt.date]] = field(default_factory=dict)
    institution: dict[int, int] = field(default_factory=dict)

    def add(self, branch: int, inst: int, d0, d1) -> None:
        d0, d1 = _as_date(d0), _as_date(d1)
        lo, hi = self.days.get(branch, [d0, d1])
        self.days[branch] = [min(lo, d0), max(hi, d1)]
        self.institution[branch] = inst


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _bounds(d0: dt.date, d1: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return dt.datetime.combine(d0, dt.time()), dt.datetime.combine(d1 + dt.timedelta(1), dt.time())


def _watermark(session: Session, name: str) -> AggWatermark:
    wm = session.get(AggWatermark, name)
    if wm is None:
        wm = AggWatermark(name=name, last_id=0)
        session.add(wm)
    return wm


def _since(wm: AggWatermark) -> dt.datetime:
    return (wm.last_at or dt.datetime(1970, 1, 1)) - OVERLAP


def _daily_keys(session: Session, branch: int, d0: dt.date, d1: dt.date, metrics=None):
    d = AggDaily
    cond = and_(d.grain == "m", d.branch_id == branch, d.day >= d0, d.day <= d1)
    if metrics is not None:
        cond = and_(cond, metrics)
    session.execute(delete(d).where(cond))


def _events(session: Session, touched: Touched) -> None:
    wm = _watermark(session, "events")
    newest = session.scalar(select(func.max(E.at)))
    if newest is None:
        return
    apps = select(E.application_id).where(E.at >= _since(wm)).distinct()
    rows = session.execute(
        select(A.branch_id, A.institution_id, func.min(day_of(E.at)), func.max(day_of(E.at)))
        .join(A, A.id == E.application_id)
        .where(E.application_id.in_(apps))
        .group_by(A.branch_id, A.institution_id)
    ).all()
    event_metric = AggDaily.metric.in_(q.EVENT_METRICS) | AggDaily.metric.like("t:%")
    for branch, inst, d0, d1 in rows:
        d0, d1 = _as_date(d0), _as_date(d1)
        touched.add(branch, inst, d0, d1)
        _daily_keys(session, branch, d0, d1, event_metric)
        t0, t1 = _bounds(d0, d1)
        for stmt in q.event_inserts(and_(A.branch_id == branch, E.at >= t0, E.at < t1)):
            session.execute(stmt)
    for branch in {r[0] for r in rows}:
        session.execute(delete(AggOpen).where(AggOpen.branch_id == branch))
        session.execute(q.open_insert(A.branch_id == branch))
    wm.last_at = max(_as_dt(newest), wm.last_at or _as_dt(newest))


def _as_dt(value) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def _sms(session: Session, touched: Touched) -> None:
    s = SmsMessage
    wm = _watermark(session, "sms")
    marketing = and_(s.category == "marketing", s.sent_at.is_not(None), s.branch_id.is_not(None))
    newest = session.scalar(select(func.max(s.sent_at)).where(marketing))
    if newest is None:
        return
    rows = session.execute(
        select(s.branch_id, s.institution_id, func.min(s.sent_at), func.max(s.sent_at))
        .where(marketing, s.sent_at >= _since(wm), s.institution_id.is_not(None))
        .group_by(s.branch_id, s.institution_id)
    ).all()
    for branch, inst, first, last in rows:
        d0, d1 = _as_date(first), _as_date(last)
        touched.add(branch, inst, d0, d1)
        _daily_keys(session, branch, d0, d1, AggDaily.metric == "sms_sent")
        t0, t1 = _bounds(d0, d1)
        session.execute(q.sms_insert(and_(s.branch_id == branch, s.sent_at >= t0, s.sent_at < t1)))
    wm.last_at = max(_as_dt(newest), wm.last_at or _as_dt(newest))


def _offers(session: Session) -> int:
    wm = _watermark(session, "offers")
    newest = session.scalar(select(func.max(Offer.updated_at)))
    if newest is None:
        return 0
    branches = session.scalars(
        select(Offer.branch_id).where(Offer.updated_at >= _since(wm)).distinct()
    ).all()
    for branch in branches:
        session.execute(delete(AggOffer).where(AggOffer.branch_id == branch))
        session.execute(q.offer_insert(Offer.branch_id == branch))
    wm.last_at = max(_as_dt(newest), wm.last_at or _as_dt(newest))
    return len(branches)


def _rollups(session: Session, touched: Touched) -> None:
    d = AggDaily
    per_inst: dict[int, list[dt.date]] = {}
    for branch, (d0, d1) in touched.days.items():
        session.execute(
            delete(d).where(d.grain == "b", d.branch_id == branch, d.day >= d0, d.day <= d1)
        )
        session.execute(
            q.rollup_insert("m", "b", and_(d.branch_id == branch, d.day >= d0, d.day <= d1))
        )
        inst = touched.institution[branch]
        lo, hi = per_inst.get(inst, [d0, d1])
        per_inst[inst] = [min(lo, d0), max(hi, d1)]
    for inst, (d0, d1) in per_inst.items():
        window = and_(d.institution_id == inst, d.day >= d0, d.day <= d1)
        session.execute(delete(d).where(d.grain == "i", window))
        session.execute(q.rollup_insert("b", "i", window))


def refresh(session: Session) -> dict:
    """Bring every summary table up to date with what changed since the last refresh."""
    started = time.perf_counter()
    touched = Touched()
    _events(session, touched)
    _sms(session, touched)
    offer_branches = _offers(session)
    _rollups(session, touched)
    for wm in session.scalars(select(AggWatermark)):
        wm.refreshed_at = dt.datetime.now()
    session.commit()
    return {
        "branches": len(touched.days),
        "offer_branches": offer_branches,
        "seconds": round(time.perf_counter() - started, 3),
    }


def rebuild(session: Session) -> dict:
    """Recompute every summary table from the raw tables (command `portal aggregates`)."""
    started = time.perf_counter()
    for model in (AggDaily, AggOffer, AggOpen, AggWatermark):
        session.execute(delete(model))
    for stmt in q.event_inserts():
        session.execute(stmt)
    session.execute(q.sms_insert())
    session.execute(q.rollup_insert("m", "b"))
    session.execute(q.rollup_insert("b", "i"))
    session.execute(q.offer_insert())
    session.execute(q.open_insert())
    now = dt.datetime.now()
    marks = {
        "events": session.scalar(select(func.max(E.at))),
        "sms": session.scalar(
            select(func.max(SmsMessage.sent_at)).where(SmsMessage.category == "marketing")
        ),
        "offers": session.scalar(select(func.max(Offer.updated_at))),
    }
    for name, last in marks.items():
        session.add(
            AggWatermark(
                name=name, last_id=0, last_at=_as_dt(last) if last else None, refreshed_at=now
            )
        )
    session.commit()
    return {"seconds": round(time.perf_counter() - started, 3)}


def refresh_for_slot(slot: dt.datetime | None = None) -> str:
    """Scheduled every minute (ledger-claimed): the incremental refresh."""
    from portal.core.extensions import db

    return str(refresh(db.session))
