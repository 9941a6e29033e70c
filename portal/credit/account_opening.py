"""Batch account opening (批量开户): approved applications opened in core by one job.

Applications approved under a policy whose disbursement is "batch" wait in 已批准.
A batch takes those in the user's scope, and the job runs each one's disbursement
chain (portal/credit/disbursement.py, same core keys, status asked first) with a result
per item; retrying a batch re-runs only its failed items.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from models.access.staff import StaffUser
from models.applications import Application
from models.credit import BatchOpening, BatchOpeningItem
from portal.access.scoping import Scope, apply_scope
from portal.applications import lifecycle
from portal.credit import disbursement
from portal.integrations.base import IntegrationError

MAX_ITEMS = 500


class BatchError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def start(session: Session, user: Any, scope: Scope) -> BatchOpening:
    """Collect the approved applications in scope into a new batch and queue its job."""
    ids = session.scalars(
        apply_scope(
            select(Application.id)
            .where(Application.state == "approved")
            .order_by(Application.id)
            .limit(MAX_ITEMS),
            Application,
            scope,
        )
    ).all()
    if not ids:
        raise BatchError("没有待开户的已批准申请")
    inst = scope.institution_id or session.scalar(
        select(Application.institution_id).where(Application.id == ids[0])
    )
    batch = BatchOpening(
        institution_id=inst,
        branch_id=scope.branch_id,
        created_by=user.id,
        created_at=dt.datetime.now(),
        status="queued",
        total=len(ids),
    )
    session.add(batch)
    session.flush()
    session.execute(
        insert(BatchOpeningItem),
        [
            {"batch_id": batch.id, "application_id": i, "status": "pending", "attempts": 0}
            for i in ids
        ],
    )
    session.commit()
    _enqueue(batch.id, user.id)
    return batch


def retry_failed(session: Session, batch: BatchOpening, user: Any) -> int:
    """Put the batch's failed items back to pending and queue the job again."""
    if batch.status in ("queued", "running"):
        raise BatchError("该批次正在处理中，请稍后")
    n = session.execute(
        update(BatchOpeningItem)
        .where(BatchOpeningItem.batch_id == batch.id, BatchOpeningItem.status == "failed")
        .values(status="pending")
    ).rowcount
    if not n:
        session.rollback()
        raise BatchError("该批次没有失败的明细")
    batch.status = "queued"
    session.commit()
    _enqueue(batch.id, user.id)
    return n


def _enqueue(batch_id: int, actor_id: int) -> None:
    from portal.background.rq_queues import get_queue

    get_queue("batch").enqueue("jobs.credit.run_batch", batch_id, actor_id, job_timeout=1800)


def run(session: Session, batch_id: int, actor_id: int | None) -> dict:
    """The job: each pending item through the chain; returns the batch's counts."""
    batch = session.get(BatchOpening, batch_id)
    batch.status = "running"
    session.commit()
    actor = lifecycle.SYSTEM_ACTOR
    if actor_id:
        actor = lifecycle.staff_actor(session.get(StaffUser, actor_id))
    items = session.scalars(
        select(BatchOpeningItem)
        .where(BatchOpeningItem.batch_id == batch_id, BatchOpeningItem.status == "pending")
        .order_by(BatchOpeningItem.id)
    ).all()
    for item in items:
        app_id, item_id = item.application_id, item.id
        try:
            state = session.scalar(select(Application.state).where(Application.id == app_id))
            if state == "approved":
                disbursement.start(session, app_id)
                session.commit()
            elif state == "disbursement_failed":
                lifecycle.transition(
                    app_id, "retry_disburse", actor, "批量开户重试", session=session
                )
            disbursement.run_chain(session, app_id, is_retry=True)
            status, error = "ok", None
        except (IntegrationError, lifecycle.TransitionError) as exc:
            session.rollback()
            if isinstance(exc, IntegrationError):
                disbursement.fail(session, app_id, str(exc))
            status, error = "failed", str(exc)[:300]
        session.execute(
            update(BatchOpeningItem)
            .where(BatchOpeningItem.id == item_id)
            .values(
                status=status,
                error=error,
                attempts=BatchOpeningItem.attempts + 1,
                updated_at=dt.datetime.now(),
            )
        )
        session.commit()
    counts = dict(
        session.execute(
            select(BatchOpeningItem.status, func.count())
            .where(BatchOpeningItem.batch_id == batch_id)
            .group_by(BatchOpeningItem.status)
        ).all()
    )
    batch = session.get(BatchOpening, batch_id)
    batch.succeeded, batch.failed = counts.get("ok", 0), counts.get("failed", 0)
    batch.status, batch.finished_at = "done", dt.datetime.now()
    session.commit()
    return {"ok": batch.succeeded, "failed": batch.failed}


def items(session: Session, batch_id: int) -> list[BatchOpeningItem]:
    return list(
        session.scalars(
            select(BatchOpeningItem)
            .where(BatchOpeningItem.batch_id == batch_id)
            .order_by(BatchOpeningItem.id)
        )
    )
