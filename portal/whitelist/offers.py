"""Offer lifecycle (额度生命周期): pending → active → applied → expired / revoked, with history.

* pending — imported (or changed after expiry/revocation), not yet accepted by mobile banking;
* active — mobile banking accepted the current version (see portal.whitelist.offer_sync);
* applied — the customer applied (`mark_applied`, called by the application intake);
  the end-of-day batch settles it; when that application is withdrawn or expires before
  any approval, `release` gives the offer back (active, or expired past its validity) in
  the application's transaction; a rejected application keeps it applied;
* expired — past its expiry date at the end-of-day batch (日终跑批);
* revoked — withdrawn by staff or by an import row with 操作=撤销.
Every transition writes an offer_history row and bumps the version (so it syncs).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from models.whitelist import EodRun, Offer, OfferHistory
from portal.core import single_statement as statement_batch

TRANSITIONS = {
    ("pending", "activate"): "active",
    ("pending", "apply"): "applied",
    ("active", "apply"): "applied",
    ("pending", "expire"): "expired",
    ("active", "expire"): "expired",
    ("pending", "revoke"): "revoked",
    ("active", "revoke"): "revoked",
    ("applied", "release"): "active",  # or "expired" past its validity (see `release`)
}


class OfferError(ValueError):
    """A transition the lifecycle does not allow (Chinese message)."""


def _transition(session: Session, offer: Offer, action: str, actor_id=None, reason=None) -> None:
    target = TRANSITIONS.get((offer.status, action))
    if target is None:
        raise OfferError(f"额度当前状态为“{offer.status_label}”，不能执行此操作")
    now = dt.datetime.now()
    session.add(
        OfferHistory(
            offer_id=offer.id,
            event=action if action != "apply" else "applied",
            version=offer.version + 1,
            old_status=offer.status,
            new_status=target,
            actor_id=actor_id,
            reason=reason,
            at=now,
        )
    )
    offer.status, offer.version, offer.updated_at = target, offer.version + 1, now


def revoke(session: Session, offer: Offer, actor_id: int | None, reason: str) -> None:
    """Staff withdraw an offer (the caller has checked scope and permission)."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise OfferError("请填写撤销原因")
    _transition(session, offer, "revoke", actor_id, reason[:200])


_APPLY_UPDATE = (
    update(Offer.__table__)
    .where(
        Offer.__table__.c.id == bindparam("offer_id"),
        # optimistic check as well as the row lock: SQLite has no SELECT … FOR UPDATE (and
        # pysqlite runs that SELECT outside the transaction), so two requests may both read
        # the offer as open; only the one whose version still matches changes it
        Offer.__table__.c.version == bindparam("old_version"),
    )
    .values(
        status=bindparam("status"),
        version=bindparam("version"),
        applied_at=bindparam("applied_at"),
        updated_at=bindparam("at"),
    )
)
_HISTORY_INSERT = insert(OfferHistory.__table__)  # constant: the hot path only binds values
# Inside a statement batch (the intake's submission on PostgreSQL) the same UPDATE is the
# batch's guard and the history row follows it in the one statement: the application's rows
# are written only if it matched. Elsewhere the two statements above run.
_APPLY_GUARD_UPDATE = (
    "UPDATE offer SET status = :status, version = :version,"
    " applied_at = :applied_at, updated_at = :at"
    " WHERE id = :offer_id AND version = :old_version RETURNING id"
)
_APPLY_GUARD_HISTORY = (
    "INSERT INTO offer_history (offer_id, event, version, old_status, new_status, at)"
    " SELECT id, 'applied', :version, :old_status, :status, :at FROM {guard}"
)


def mark_applied(
    session: Session, offer_id: int, at: dt.datetime | None = None, locked=None
) -> None:
    """The customer applied on this offer (real time); the status follows at once.

    Core statements (row lock, update, history row): the application intake calls this
    on its hot path, hundreds of times a second; the effect equals ``_transition``'s.
    ``locked``: the offer's (status, version, expiry_date) when the caller has already
    read it with a row lock in this transaction (the intake does, in its one query).
    """
    row = locked
    if row is None:
        row = session.execute(
            select(Offer.status, Offer.version, Offer.expiry_date)
            .where(Offer.id == offer_id)
            .with_for_update()
        ).first()
    if row is None or row[0] not in ("pending", "active"):
        raise OfferError("额度不存在或已失效")
    status, version, expiry = row[0], row[1], row[2]
    if expiry < dt.date.today():
        raise OfferError("额度已过期")
    target = TRANSITIONS[(status, "apply")]
    now = dt.datetime.now()
    params = {
        "offer_id": offer_id,
        "old_version": version,
        "status": target,
        "version": version + 1,
        "applied_at": at or now,
        "at": now,
    }
    batch = statement_batch.current(session)
    if batch is not None:
        batch.set_guard(
            statement_batch.Guard(
                "offer.apply",
                _APPLY_GUARD_UPDATE,
                (_APPLY_GUARD_HISTORY,),
                {**params, "old_status": status},
            )
        )

        def _matched():
            if batch.guard_count != 1:
                raise OfferError("该额度已被申请")

        batch.after(_matched)
        return
    if session.execute(_APPLY_UPDATE, params).rowcount != 1:
        raise OfferError("该额度已被申请")
    session.execute(
        _HISTORY_INSERT,
        {
            "offer_id": offer_id,
            "event": "applied",
            "version": version + 1,
            "old_status": status,
            "new_status": target,
            "actor_id": None,
            "reason": None,
            "at": now,
        },
    )


def release(session: Session, offer_id: int, reason: str, at: dt.datetime | None = None) -> str:
    """The application on this offer ended before approval (withdrawn / expired): the offer
    is open again — "active", or "expired" when its validity has passed — with a history
    row naming the application. Runs inside the application's transition (no commit).

    `applied_at` is cleared, so the end-of-day batch (which settles offers that carry an
    application time) does not flip it back and campaigns may target the customer again.
    Returns the offer's status afterwards (unchanged when it was not "applied")."""
    row = session.execute(
        select(Offer.status, Offer.version, Offer.expiry_date)
        .where(Offer.id == offer_id)
        .with_for_update()
    ).first()
    if row is None or row.status != "applied":
        return row.status if row else ""
    now = at or dt.datetime.now()
    target = TRANSITIONS[("applied", "release")]
    if row.expiry_date < now.date():
        target = "expired"
    table = Offer.__table__
    session.execute(
        update(table)
        .where(table.c.id == offer_id)
        .values(status=target, version=row.version + 1, applied_at=None, updated_at=now)
    )
    session.execute(
        insert(OfferHistory.__table__).values(
            offer_id=offer_id,
            event="released",
            version=row.version + 1,
            old_status="applied",
            new_status=target,
            reason=reason[:200],
            at=now,
        )
    )
    return target


def _history_for(session: Session, where: str, params: dict, event: str, new: str, now) -> int:
    return session.execute(
        text(
            "INSERT INTO offer_history (offer_id, event, version, old_status, new_status, reason,"
            f" at) SELECT id, :event, version + 1, status, :new, :reason, :now FROM offer WHERE {where}"
        ),
        {**params, "event": event, "new": new, "now": now, "reason": "日终跑批"},
    ).rowcount


def end_of_day(session: Session, business_date: dt.date) -> dict[str, int]:
    """日终跑批 for one business date, once: expire past validity, settle applied offers."""
    now = dt.datetime.now()
    done = session.get(EodRun, business_date)
    if done is not None and done.finished_at is not None:
        return {"skipped": 1, "expired": done.expired, "applied": done.applied}
    if done is None:
        session.execute(insert(EodRun).values(business_date=business_date, started_at=now))
    expire_where = "status IN ('pending', 'active') AND expiry_date < :d"
    p = {"d": business_date}
    expired = _history_for(session, expire_where, p, "expired", "expired", now)
    session.execute(
        update(Offer)
        .where(Offer.status.in_(("pending", "active")), Offer.expiry_date < business_date)
        .values(status="expired", version=Offer.version + 1, updated_at=now)
    )
    applied_where = "status IN ('pending', 'active') AND applied_at IS NOT NULL"
    applied = _history_for(session, applied_where, {}, "applied", "applied", now)
    session.execute(
        update(Offer)
        .where(Offer.status.in_(("pending", "active")), Offer.applied_at.is_not(None))
        .values(status="applied", version=Offer.version + 1, updated_at=now)
    )
    session.execute(
        update(EodRun)
        .where(EodRun.business_date == business_date)
        .values(finished_at=dt.datetime.now(), expired=expired, applied=applied)
    )
    session.commit()
    return {"expired": expired, "applied": applied}


def eod_for_slot(slot: dt.datetime) -> dict[str, int]:
    """Schedule entry: the slot's date is the business date that just ended."""
    from portal.core.extensions import db

    return end_of_day(db.session, slot.date())


def history(session: Session, offer_id: int) -> list[OfferHistory]:
    return list(
        session.scalars(
            select(OfferHistory).where(OfferHistory.offer_id == offer_id).order_by(OfferHistory.id)
        )
    )
