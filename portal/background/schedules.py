"""Cluster-safe schedules: every run claims a ledger row (job name + slot) first.

RQ's cron takes no lock, so N cron processes enqueue every run N times. Each copy
tries to INSERT the unique (job_name, slot) row; exactly one succeeds and does the
work, the others stop. Slots are computed in the business timezone from the
schedule itself (cron expression, or an interval aligned to the epoch), so every
process on every machine names the same slot the same way. At cron start-up,
slots missed while no cron process ran are enqueued again (catch-up).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import socket
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from croniter import croniter
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from models.background import ScheduleRun
from portal.core.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Schedule:
    name: str
    func: str  # dotted path; ledger jobs receive the slot (datetime) as argument
    label: str  # Chinese, for the job monitor
    cron: str | None = None  # business-local time
    interval: int | None = None  # seconds
    queue: str = "default"
    ledger: bool = True  # claim a slot row; False for idempotent housekeeping ticks
    catch_up: bool = False
    timeout: int = 3600

    @property
    def when(self) -> str:
        return self.cron or f"每 {self.interval} 秒"


def tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["PORTAL_TIMEZONE"])


def local_now() -> dt.datetime:
    return dt.datetime.now(tz()).replace(tzinfo=None)


def slot_at(schedule: Schedule, at_local: dt.datetime) -> dt.datetime:
    """The slot a run fired at `at_local` belongs to (naive business-local time)."""
    if schedule.cron:
        return croniter(schedule.cron, at_local + dt.timedelta(seconds=1)).get_prev(dt.datetime)
    aware = at_local.replace(tzinfo=tz())
    epoch = int(aware.timestamp()) // schedule.interval * schedule.interval
    return dt.datetime.fromtimestamp(epoch, tz()).replace(tzinfo=None)


def next_slot(schedule: Schedule, at_local: dt.datetime) -> dt.datetime:
    if schedule.cron:
        return croniter(schedule.cron, at_local).get_next(dt.datetime)
    return slot_at(schedule, at_local) + dt.timedelta(seconds=schedule.interval)


def _call(path: str, *args):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


def claim(name: str, slot: dt.datetime, catch_up: bool = False) -> ScheduleRun | None:
    """Insert the ledger row for (name, slot); None when another process already has it."""
    run = ScheduleRun(
        job_name=name,
        slot=slot,
        claimed_by=f"{socket.gethostname()}:{os.getpid()}",
        claimed_at=dt.datetime.now(),
        status="running",
        catch_up=catch_up,
    )
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return run


def run_slot(schedule: Schedule, slot: dt.datetime, catch_up: bool = False) -> str:
    """Claim the slot, then run the schedule's function once; returns the outcome."""
    if not schedule.ledger:
        _call(schedule.func)
        return "success"
    run = claim(schedule.name, slot, catch_up)
    if run is None:
        return "skipped"
    try:
        result = _call(schedule.func, slot)
    except Exception as exc:
        db.session.rollback()
        run.status, run.detail = "failed", f"{type(exc).__name__}: {exc}"[:1000]
        run.finished_at = dt.datetime.now()
        db.session.commit()
        raise
    run.status, run.finished_at = "success", dt.datetime.now()
    run.detail = None if result is None else str(result)[:1000]
    db.session.commit()
    return "success"


def missed_slots(schedule: Schedule, now_local: dt.datetime | None = None) -> list[dt.datetime]:
    """Slots in the catch-up window with no ledger row (at most 50, oldest first)."""
    if not (schedule.ledger and schedule.catch_up):
        return []
    now_local = now_local or local_now()
    start = now_local - dt.timedelta(hours=current_app.config["CRON_CATCHUP_HOURS"])
    last = db.session.scalar(
        select(func.max(ScheduleRun.slot)).where(ScheduleRun.job_name == schedule.name)
    )
    if last is not None and last > start:
        start = last
    slots, cursor = [], start
    while len(slots) < 50:
        cursor = next_slot(schedule, cursor)
        if cursor > now_local:
            break
        slots.append(cursor)
    if not slots:
        return []
    taken = set(
        db.session.scalars(
            select(ScheduleRun.slot).where(
                ScheduleRun.job_name == schedule.name, ScheduleRun.slot.in_(slots)
            )
        )
    )
    return [s for s in slots if s not in taken]


def last_run(name: str) -> ScheduleRun | None:
    return db.session.scalars(
        select(ScheduleRun).where(ScheduleRun.job_name == name).order_by(ScheduleRun.slot.desc())
    ).first()
