"""The set-based queries that turn raw rows into summary rows (看板汇总口径).

Each function returns an INSERT … SELECT restricted by `where` (a branch and a time
range for the incremental refresh, nothing for a rebuild). Metric definitions:

* submitted / approved / active — submit, approve, disbursed events (n, total = amount);
* rejected — transitions into the rejected state;
* decided — final decisions (approve, approval reject, reject): total = seconds since
  submission; decided_15 — those within 15 minutes (the seed's promise);
* t:<state> — time spent in <state>, counted on the day the state was left;
* sms_sent — marketing SMS sent, attributed to the customer's account manager.
"""

from __future__ import annotations

from sqlalchemy import and_, func, insert, literal_column, null, select, true
from sqlalchemy.orm import aliased

from models.applications import Application, ApplicationEvent
from models.customers import Customer
from models.reports import AggDaily, AggOffer, AggOpen
from models.sms.messages import SmsMessage
from models.whitelist import Offer
from portal.core.sqlfuncs import day_of, hour_of, seconds_between

DECISIONS = ("approve", "approval_reject", "reject")
SLA_SECONDS = 15 * 60
EVENT_METRICS = ("submitted", "approved", "active", "rejected", "decided", "decided_15")
FINAL = ("active", "rejected", "withdrawn", "expired")
_COLS = ["grain", "day", "institution_id", "branch_id", "manager_id", "metric", "n", "total"]
A, E = Application, ApplicationEvent


def _lit(value: str):
    return literal_column(f"'{value}'")


def _event_select(metric, cond, total, where):
    day = day_of(E.at)
    return (
        select(
            _lit("m"),
            day,
            A.institution_id,
            A.branch_id,
            A.manager_id,
            metric,
            func.count(),
            func.coalesce(func.sum(total), 0),
        )
        .select_from(E)
        .join(A, A.id == E.application_id)
        .where(cond, where)
        .group_by(day, A.institution_id, A.branch_id, A.manager_id)
    )


def event_inserts(where=None) -> list:
    """INSERTs of every event-sourced metric (grain m) for events matching `where`."""
    where = true() if where is None else where
    secs = seconds_between(A.submitted_at, E.at)
    zero = literal_column("0")
    selects = [
        _event_select(_lit("submitted"), E.action == "submit", A.amount, where),
        _event_select(_lit("approved"), E.action == "approve", A.amount, where),
        _event_select(_lit("active"), E.action == "disbursed", A.amount, where),
        _event_select(
            _lit("rejected"),
            and_(E.to_state == "rejected", E.from_state != "rejected"),
            zero,
            where,
        ),
        _event_select(_lit("decided"), E.action.in_(DECISIONS), secs, where),
        _event_select(
            _lit("decided_15"), and_(E.action.in_(DECISIONS), secs <= SLA_SECONDS), zero, where
        ),
    ]
    out = [insert(AggDaily).from_select(_COLS, s) for s in selects]
    out.append(insert(AggDaily).from_select(_COLS, _state_time_select(where)))
    return out


def _state_time_select(where):
    prev = aliased(ApplicationEvent)
    day = day_of(E.at)
    metric = _lit("t:").concat(E.from_state)
    return (
        select(
            _lit("m"),
            day,
            A.institution_id,
            A.branch_id,
            A.manager_id,
            metric,
            func.count(),
            func.coalesce(func.sum(seconds_between(prev.at, E.at)), 0),
        )
        .select_from(E)
        .join(A, A.id == E.application_id)
        .join(prev, and_(prev.application_id == E.application_id, prev.version == E.version - 1))
        .where(E.from_state.is_not(None), where)
        .group_by(day, A.institution_id, A.branch_id, A.manager_id, E.from_state)
    )


def sms_insert(where=None):
    """INSERT of sms_sent (grain m) for marketing SMS matching `where`."""
    where = true() if where is None else where
    s = SmsMessage
    day = day_of(s.sent_at)
    stmt = (
        select(
            _lit("m"),
            day,
            s.institution_id,
            s.branch_id,
            Customer.manager_id,
            _lit("sms_sent"),
            func.count(),
            literal_column("0"),
        )
        .select_from(s)
        .outerjoin(Customer, Customer.id == s.customer_id)
        .where(
            s.category == "marketing",
            s.sent_at.is_not(None),
            s.institution_id.is_not(None),
            s.branch_id.is_not(None),
            where,
        )
        .group_by(day, s.institution_id, s.branch_id, Customer.manager_id)
    )
    return insert(AggDaily).from_select(_COLS, stmt)


def rollup_insert(grain_from: str, grain_to: str, where=None):
    """Roll manager rows up to branch rows (m→b), or branch rows to institution rows (b→i)."""
    where = true() if where is None else where
    d = AggDaily
    branch = d.branch_id if grain_to == "b" else null()
    keys = [d.day, d.institution_id, d.metric] + ([d.branch_id] if grain_to == "b" else [])
    stmt = (
        select(
            _lit(grain_to),
            d.day,
            d.institution_id,
            branch,
            null(),
            d.metric,
            func.sum(d.n),
            func.sum(d.total),
        )
        .where(d.grain == grain_from, where)
        .group_by(*keys)
    )
    return insert(AggDaily).from_select(_COLS, stmt)


def offer_insert(where=None):
    where = true() if where is None else where
    stmt = (
        select(
            Offer.institution_id,
            Offer.branch_id,
            Offer.manager_id,
            Offer.status,
            func.count(),
            func.sum(Offer.limit_amount),
        )
        .where(where)
        .group_by(Offer.institution_id, Offer.branch_id, Offer.manager_id, Offer.status)
    )
    cols = ["institution_id", "branch_id", "manager_id", "status", "n", "limit_total"]
    return insert(AggOffer).from_select(cols, stmt)


def open_insert(where=None):
    where = true() if where is None else where
    hour = hour_of(A.last_action_at)
    stmt = (
        select(A.institution_id, A.branch_id, A.manager_id, A.state, hour, func.count())
        .where(A.state.not_in(FINAL), where)
        .group_by(A.institution_id, A.branch_id, A.manager_id, A.state, hour)
    )
    cols = ["institution_id", "branch_id", "manager_id", "state", "since_hour", "n"]
    return insert(AggOpen).from_select(cols, stmt)
