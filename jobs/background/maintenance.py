"""Housekeeping jobs."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import delete

from models.background import OutboxItem, ScheduleRun
from portal.core.redis_conn import get_redis


def heartbeat(slot: dt.datetime | None = None) -> int:
    """Record that the cron → queue → worker chain is alive (shown in the job monitor)."""
    now = int(time.time())
    conn = get_redis()
    conn.set("portal:heartbeat", now)
    if slot is not None:  # effective runs per slot: one, however many cron processes run
        conn.hincrby("portal:heartbeat:runs", slot.isoformat(), 1)
        conn.expire("portal:heartbeat:runs", 86400)
    return now


def purge(slot: dt.datetime | None = None, keep_days: int = 30) -> str:
    """Drop ledger rows and finished outbox items older than `keep_days`."""
    from portal.core.extensions import db

    cutoff = dt.datetime.now() - dt.timedelta(days=keep_days)
    runs = db.session.execute(delete(ScheduleRun).where(ScheduleRun.slot < cutoff)).rowcount
    items = db.session.execute(
        delete(OutboxItem).where(OutboxItem.state == "done", OutboxItem.done_at < cutoff)
    ).rowcount
    db.session.commit()
    return f"schedule_run={runs} outbox_item={items}"
