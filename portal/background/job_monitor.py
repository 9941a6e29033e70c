"""What the job monitor (作业监控) shows: queues, workers, jobs, schedules, outbox."""

from __future__ import annotations

import datetime as dt

from rq import Worker
from rq.cron import get_cron_job_ids
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from models.background import OutboxItem
from portal.access.scoping import Scope, apply_scope, current_scope
from portal.background import schedules
from portal.background.rq_queues import QUEUE_NAMES, get_queue
from portal.core.extensions import db
from portal.core.redis_conn import get_redis

QUEUE_LABELS = {"default": "默认", "sms": "短信", "batch": "批处理", "integrations": "外部系统"}


def _summary(job: Job) -> dict:
    exc = (job.latest_result().exc_string if job.latest_result() else "") or ""
    return {
        "id": job.id,
        "func": job.func_name,
        "args": len(job.args[0]) if job.args and isinstance(job.args[0], list) else "",
        "queue": job.origin,
        "enqueued_at": job.enqueued_at,
        "started_at": job.started_at,
        "error": exc.strip().splitlines()[-1][:200] if exc.strip() else "",
    }


def queues() -> list[dict]:
    out = []
    for name in QUEUE_NAMES:
        q = get_queue(name)
        out.append(
            {
                "name": name,
                "label": QUEUE_LABELS[name],
                "queued": q.count,
                "started": q.started_job_registry.count,
                "failed": q.failed_job_registry.count,
                "scheduled": q.scheduled_job_registry.count,
            }
        )
    return out


def workers() -> list[dict]:
    out = []
    for w in Worker.all(connection=get_redis(), serializer=JSONSerializer):
        out.append(
            {
                "name": w.name,
                "hostname": w.hostname,
                "pid": w.pid,
                "state": w.state,
                "queues": ", ".join(w.queue_names()),
                "heartbeat": w.last_heartbeat,
                "current": w.get_current_job_id(),
            }
        )
    return out


def jobs(registry: str, limit: int = 50) -> list[dict]:
    out = []
    for name in QUEUE_NAMES:
        q = get_queue(name)
        reg = getattr(q, f"{registry}_job_registry")
        ids = reg.get_job_ids(0, limit - 1)
        for job in Job.fetch_many(ids, connection=q.connection, serializer=JSONSerializer):
            if job is not None:
                out.append(_summary(job))
    return out[:limit]


def requeue(job_id: str) -> bool:
    """Put a failed job back on its queue."""
    for name in QUEUE_NAMES:
        reg = get_queue(name).failed_job_registry
        if job_id in reg.get_job_ids():
            reg.requeue(job_id)
            return True
    return False


def _last_rq_run(name: str) -> dict:
    conn = get_redis()
    ids = get_cron_job_ids(name, conn, 0, 0)
    if not ids:
        return {}
    job = Job.fetch_many(ids, connection=conn, serializer=JSONSerializer)[0]
    if job is None:
        return {}
    status = job.get_status(refresh=False)
    return {"at": job.ended_at or job.enqueued_at, "status": str(getattr(status, "value", status))}


def schedule_rows() -> list[dict]:
    from jobs.background.cron import all_schedules

    now = schedules.local_now()
    out = []
    for s in all_schedules():
        row = {
            "name": s.name,
            "label": s.label,
            "when": s.when,
            "queue": s.queue,
            "next": schedules.next_slot(s, now),
            "ledger": s.ledger,
        }
        if s.ledger:
            run = schedules.last_run(s.name)
            if run is not None:
                row.update(
                    last_slot=run.slot,
                    at=run.finished_at or run.claimed_at,
                    status=run.status,
                    detail=run.detail,
                    catch_up=run.catch_up,
                )
        else:
            last = _last_rq_run(s.name)
            if last.get("at"):
                at = last["at"]
                if at.tzinfo is None:
                    at = at.replace(tzinfo=dt.UTC)
                row.update(
                    at=at.astimezone(schedules.tz()).replace(tzinfo=None), status=last["status"]
                )
        out.append(row)
    return out


def outbox_overview(limit: int = 50, scope: Scope | None = None) -> dict:
    """Outbox counts and dead letters inside `scope` (default: the signed-in user's).

    An institution admin sees their own bank's dead letters only: an item's error text
    can name a customer, so it goes through the one scope function like every list.
    """
    scope = scope or current_scope()
    counts = dict(
        db.session.execute(
            apply_scope(
                select(OutboxItem.state, func.count()).group_by(OutboxItem.state),
                OutboxItem,
                scope,
            )
        ).all()
    )
    dead = db.session.scalars(
        apply_scope(
            select(OutboxItem)
            .where(OutboxItem.state == "dead")
            .order_by(OutboxItem.id.desc())
            .limit(limit),
            OutboxItem,
            scope,
        )
    ).all()
    heartbeat = get_redis().get("portal:heartbeat")
    return {
        "counts": {k: counts.get(k, 0) for k in ("pending", "enqueued", "running", "done", "dead")},
        "dead": dead,
        "heartbeat": dt.datetime.fromtimestamp(int(heartbeat), schedules.tz())
        if heartbeat
        else None,
    }
