"""Transactional outbox (发件箱): external calls announced in the business transaction.

Life of an item: ``pending`` → (dispatcher) ``enqueued`` → (worker claims) ``running``
→ ``done``; a retryable failure goes back to ``pending`` with exponential backoff, a
permanent one — or the last attempt — to ``dead`` (死信), retried from the job monitor.
The reconciler returns items whose RQ job vanished (Redis lost) or whose lease
expired (worker killed) to ``pending``. Every external call carries the item's
idempotency key, so a repeated call never repeats the effect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from models.background import OutboxItem
from portal.core import multirow
from portal.core.extensions import db
from portal.integrations.base import IntegrationError, PermanentError  # noqa: F401 (re-export)

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Defer:
    """Not now (e.g. quiet hours): back to pending until `until`, attempt not counted."""

    until: dt.datetime


@dataclass(frozen=True)
class Handler:
    kind: str
    func: Callable[[list[OutboxItem]], list[Any]]
    queue: str
    batch_size: int
    on_dead: Callable[[list[OutboxItem]], None] | None = None


HANDLERS: dict[str, Handler] = {}


def handler(kind: str, queue: str = "integrations", batch_size: int = 20, on_dead=None):
    """Register the function that performs `kind` items; it returns one outcome per item:
    a result dict (done), an IntegrationError (retry or dead), or Defer. `on_dead(items)`,
    if given, runs in the same transaction when items are dead-lettered (e.g. to mark the
    business record failed)."""

    def wrap(func):
        HANDLERS[kind] = Handler(kind, func, queue, batch_size, on_dead)
        return func

    return wrap


def _load_handlers() -> None:
    import portal.background.handlers  # noqa: F401  (registers every kind)


def add(
    session: Session,
    kind: str,
    key: str,
    *,
    ref_id: int | None = None,
    payload: dict | None = None,
    institution_id: int | None = None,
    not_before: dt.datetime | None = None,
) -> None:
    """Announce an external call inside the caller's transaction (no commit here)."""
    add_many(
        session,
        [
            dict(
                kind=kind,
                idempotency_key=key,
                ref_id=ref_id,
                payload=payload,
                institution_id=institution_id,
                next_attempt_at=not_before,
            )
        ],
    )


def add_many(session: Session, rows: Iterable[dict]) -> int:
    """Bulk form of :func:`add` (Core executemany, for campaigns)."""
    now = utcnow()
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    values = [
        {
            "ref_id": None,
            "payload": None,
            "institution_id": None,
            **r,
            "next_attempt_at": r.get("next_attempt_at") or now,
            "state": "pending",
            "attempts": 0,
            "max_attempts": max_attempts,
            "created_at": now,
        }
        for r in rows
    ]
    buffer = session.info.get(_BUFFER)
    if buffer is not None:  # inside batched(): one insert at its end
        buffer.extend(values)
    else:
        # Core insert: the ORM bulk path costs ~1 ms more per call on the intake hot path
        multirow.insert_rows(session, OutboxItem.__table__, values)
    return len(values)


_BUFFER = "outbox_batch"


@contextlib.contextmanager
def batched(session: Session):
    """Collect the items added inside the block and insert them in one statement at its end
    (the intake's submit announces a status push and a manager SMS: one round trip, not two).
    Nothing is written if the block raises."""
    if session.info.get(_BUFFER) is not None:  # nested: the outer block writes
        yield
        return
    session.info[_BUFFER] = rows = []
    try:
        yield
    finally:
        session.info.pop(_BUFFER, None)
    multirow.insert_rows(session, OutboxItem.__table__, rows)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt n: base·2^(n-1), capped, ±20% jitter."""
    cfg = current_app.config
    delay = min(cfg["OUTBOX_BACKOFF_BASE"] * 2 ** max(attempt - 1, 0), cfg["OUTBOX_BACKOFF_MAX"])
    return delay * random.uniform(0.8, 1.2)


_last_kick = [0.0]  # this process's last kick (monotonic seconds)


def kick() -> None:
    """Ask for a dispatch soon (after a commit), at most one pending request at a time.

    At most once a second per process as well (no Redis round trip for the other requests
    of a busy web process): the key below allows one dispatch a second anyway, and the
    cron dispatcher catches up on anything that arrives between two kicks."""
    from portal.background.rq_queues import get_queue
    from portal.core.redis_conn import get_redis

    now = time.monotonic()
    if now - _last_kick[0] < 1:
        return
    _last_kick[0] = now
    try:
        if get_redis().set("portal:outbox:kick", 1, nx=True, ex=1):
            get_queue("default").enqueue("jobs.background.outbox.dispatch", job_timeout=120)
    except Exception:  # Redis down: the cron dispatcher will pick the items up
        log.warning("outbox kick failed; cron dispatch will catch up")


def dispatch(limit: int = 200_000) -> int:
    """Enqueue due pending items, batched per kind into jobs; returns items enqueued."""
    from portal.background.rq_queues import get_queue

    _load_handlers()
    session = db.session
    now = utcnow()
    lease = current_app.config["OUTBOX_LEASE_SECONDS"]
    rows = session.execute(
        select(OutboxItem.id, OutboxItem.kind)
        .where(OutboxItem.state == "pending", OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.id)
        .limit(limit)
    ).all()
    session.rollback()
    by_kind: dict[str, list[int]] = {}
    for item_id, kind in rows:
        by_kind.setdefault(kind, []).append(item_id)
    total = 0
    for kind, ids in by_kind.items():
        spec = HANDLERS.get(kind)
        if spec is None:
            log.error("outbox kind %s has no handler", kind)
            continue
        size = min(spec.batch_size, current_app.config["OUTBOX_BATCH_SIZE"])
        jobs = []
        for i in range(0, len(ids), size):
            chunk = ids[i : i + size]
            job_id = "ob-" + uuid.uuid4().hex
            res = session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_(chunk), OutboxItem.state == "pending")
                .values(state="enqueued", rq_job_id=job_id, updated_at=now)
            )
            session.commit()
            if res.rowcount:
                jobs.append((job_id, chunk))
                total += res.rowcount
        if jobs:
            queue = get_queue(spec.queue)
            queue.enqueue_many(
                [
                    queue.prepare_data(
                        "jobs.background.outbox.process",
                        args=(chunk,),
                        job_id=job_id,
                        timeout=lease,
                        result_ttl=600,
                        failure_ttl=86400,
                    )
                    for job_id, chunk in jobs
                ]
            )
    return total


def claim(job_id: str, ids: list[int]) -> list[OutboxItem]:
    """Take the items this job was enqueued for (or a crashed run of it left behind)."""
    session = db.session
    now = utcnow()
    lease = dt.timedelta(seconds=current_app.config["OUTBOX_LEASE_SECONDS"])
    session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.id.in_(ids),
            OutboxItem.rq_job_id == job_id,
            or_(
                OutboxItem.state == "enqueued",
                and_(OutboxItem.state == "running", OutboxItem.lease_until < now),
            ),
        )
        .values(
            state="running",
            attempts=OutboxItem.attempts + 1,
            lease_until=now + lease,
            updated_at=now,
        )
    )
    session.commit()
    return list(
        session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.id.in_(ids),
                OutboxItem.rq_job_id == job_id,
                OutboxItem.state == "running",
            )
            .order_by(OutboxItem.id)
        )
    )


def process(job_id: str, ids: list[int]) -> dict[str, int]:
    """Perform the claimed items through their handler and record each outcome."""
    _load_handlers()
    items = claim(job_id, ids)
    summary = {"done": 0, "retry": 0, "dead": 0, "deferred": 0}
    by_kind: dict[str, list[OutboxItem]] = {}
    for item in items:
        by_kind.setdefault(item.kind, []).append(item)
    for kind, group in by_kind.items():
        try:
            outcomes = HANDLERS[kind].func(group)
        except IntegrationError as exc:
            db.session.rollback()
            outcomes = [exc] * len(group)
        except Exception as exc:  # a bug or an outage we did not classify: retry, then dead
            db.session.rollback()
            log.exception("outbox handler %s crashed", kind)
            outcomes = [IntegrationError(f"{type(exc).__name__}: {exc}"[:500])] * len(group)
            for o in outcomes:
                o.retryable = True
        dead = []
        for item, outcome in zip(group, outcomes, strict=True):
            result = _record(item, outcome)
            summary[result] += 1
            if result == "dead":
                dead.append(item)
        if dead and HANDLERS[kind].on_dead is not None:
            HANDLERS[kind].on_dead(dead)
        db.session.commit()
    return summary


def _record(item: OutboxItem, outcome: Any) -> str:
    now = utcnow()
    item.updated_at = now
    item.lease_until = None
    if isinstance(outcome, Defer):
        item.state, item.next_attempt_at = "pending", outcome.until
        item.attempts = max(item.attempts - 1, 0)
        return "deferred"
    if isinstance(outcome, Exception):
        item.last_error = str(outcome)[:1000]
        retryable = getattr(outcome, "retryable", False)
        if retryable and item.attempts < item.max_attempts:
            item.state = "pending"
            item.next_attempt_at = now + dt.timedelta(seconds=backoff(item.attempts))
            return "retry"
        item.state = "dead"
        return "dead"
    item.state, item.done_at, item.result, item.last_error = "done", now, outcome or None, None
    return "done"


def reconcile(grace_seconds: float = 10) -> dict[str, int]:
    """Return items stranded by a lost Redis job or an expired lease to ``pending``."""
    from portal.core.redis_conn import get_redis

    session = db.session
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=grace_seconds)
    enqueued = session.execute(
        select(OutboxItem.rq_job_id)
        .where(OutboxItem.state == "enqueued", OutboxItem.updated_at < cutoff)
        .distinct()
    ).scalars()
    job_ids = [j for j in enqueued if j]
    lost: list[str] = []
    if job_ids:
        conn = get_redis()
        pipe = conn.pipeline()
        for job_id in job_ids:
            pipe.hget(f"rq:job:{job_id}", "status")
        for job_id, status in zip(job_ids, pipe.execute(), strict=True):
            if status is None or status.decode() in {"failed", "stopped", "canceled"}:
                lost.append(job_id)
    requeued = 0
    for i in range(0, len(lost), 500):
        res = session.execute(
            update(OutboxItem)
            .where(OutboxItem.state == "enqueued", OutboxItem.rq_job_id.in_(lost[i : i + 500]))
            .values(state="pending", rq_job_id=None, next_attempt_at=now, updated_at=now)
        )
        requeued += res.rowcount
    expired = session.execute(
        update(OutboxItem)
        .where(OutboxItem.state == "running", OutboxItem.lease_until < now)
        .values(
            state="pending",
            rq_job_id=None,
            lease_until=None,
            next_attempt_at=now,
            last_error="租约到期（执行进程中断），重新排队",
            updated_at=now,
        )
    ).rowcount
    session.commit()
    if requeued or expired:
        log.warning("outbox reconcile: %s lost in Redis, %s leases expired", requeued, expired)
    return {"lost": requeued, "expired": expired}


def retry_dead(session: Session, ids: list[int]) -> int:
    """Give dead letters a fresh set of attempts (the monitor's retry button)."""
    now = utcnow()
    res = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.state == "dead")
        .values(state="pending", attempts=0, next_attempt_at=now, rq_job_id=None, updated_at=now)
    )
    return res.rowcount


def counts_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboxItem.state, func.count()).group_by(OutboxItem.state)).all()
    return {state: n for state, n in rows}
