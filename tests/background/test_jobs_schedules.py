"""Schedules: one effective run per slot across cron processes; missed slots caught up."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import delete, func, select

from models.background import ScheduleRun
from portal.background import schedules
from portal.background.schedules import Schedule

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]

DAILY = Schedule(
    "test_daily", "jobs.background.maintenance.heartbeat", "测试", cron="30 1 * * *", catch_up=True
)


@pytest.fixture(autouse=True)
def clean(db):
    db.session.execute(delete(ScheduleRun))
    db.session.commit()
    yield


def test_slots_are_named_identically_by_every_process(app):
    every5 = Schedule("x", "f", "x", interval=5)
    assert schedules.slot_at(every5, dt.datetime(2026, 11, 5, 12, 0, 4, 900)) == dt.datetime(
        2026, 11, 5, 12, 0, 0
    )
    assert schedules.slot_at(DAILY, dt.datetime(2026, 11, 5, 1, 30, 0, 300)) == dt.datetime(
        2026, 11, 5, 1, 30
    )
    assert schedules.slot_at(DAILY, dt.datetime(2026, 11, 5, 1, 29)) == dt.datetime(
        2026, 11, 4, 1, 30
    )


def test_a_slot_is_claimed_once(app, db, redis):
    slot = dt.datetime(2026, 11, 5, 1, 30)
    assert schedules.run_slot(DAILY, slot) == "success"
    assert schedules.run_slot(DAILY, slot) == "skipped"
    run = db.session.scalar(select(ScheduleRun))
    assert run.status == "success" and run.finished_at is not None
    assert int(redis.hget("portal:heartbeat:runs", slot.isoformat())) == 1


def test_failed_run_is_recorded_with_its_error(app, db):
    broken = Schedule(
        "broken", "jobs.background.maintenance.no_such_function", "坏", cron="0 * * * *"
    )
    with pytest.raises(AttributeError):
        schedules.run_slot(broken, dt.datetime(2026, 11, 5, 3, 0))
    run = db.session.scalar(select(ScheduleRun))
    assert run.status == "failed" and "no_such_function" in run.detail


def test_missed_daily_slots_are_caught_up(app, db):
    """Cron was down for three nights: the three missed end-of-day slots come back."""
    now = dt.datetime(2026, 11, 8, 9, 0)
    db.session.add(
        ScheduleRun(job_name="test_daily", slot=dt.datetime(2026, 11, 5, 1, 30), status="success")
    )
    db.session.commit()
    app.config["CRON_CATCHUP_HOURS"] = 96
    try:
        missed = schedules.missed_slots(DAILY, now)
    finally:
        app.config["CRON_CATCHUP_HOURS"] = 48
    assert missed == [dt.datetime(2026, 11, d, 1, 30) for d in (6, 7, 8)]
    # the catch-up window bounds how far back we go
    assert schedules.missed_slots(DAILY, now) == [dt.datetime(2026, 11, d, 1, 30) for d in (7, 8)]


def test_catch_up_enqueues_and_runs_once_even_from_two_cron_starts(app, db, redis):
    from jobs.background.cron import catch_up
    from jobs.background.worker import run_worker

    n1, n2 = catch_up(app), catch_up(app)  # two cron processes starting together
    assert n1 == n2 > 0  # dw_export and purge over the catch-up window
    run_worker(app, burst=True)
    rows = db.session.execute(
        select(ScheduleRun.job_name, ScheduleRun.slot, func.count()).group_by(
            ScheduleRun.job_name, ScheduleRun.slot
        )
    ).all()
    assert len(rows) == n1 and all(n == 1 for *_, n in rows)
    assert all(r.catch_up for r in db.session.scalars(select(ScheduleRun)))


@pytest.mark.parametrize("processes", [2, 3])
def test_many_cron_processes_give_one_effective_run_per_slot(app, db, redis, spawn, processes):
    """N real `portal cron` processes + 2 workers over several 2-second slots."""
    env = {
        "HEARTBEAT_INTERVAL": 2,
        "CRON_CATCHUP_HOURS": 0,
        "OUTBOX_DISPATCH_INTERVAL": 60,
        "OUTBOX_RECONCILE_INTERVAL": 60,
        "SMS_RECEIPT_INTERVAL": 60,
    }
    for _ in range(processes):
        spawn("cron", env=env)
    spawn("worker", env=env)
    spawn("worker", env=env)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and len(redis.hgetall("portal:heartbeat:runs")) < 4:
        time.sleep(0.5)
    time.sleep(1)
    runs = redis.hgetall("portal:heartbeat:runs")
    assert len(runs) >= 3, runs  # several slots
    assert all(int(v) == 1 for v in runs.values()), runs
    ledger = db.session.execute(
        select(ScheduleRun.slot, func.count())
        .where(ScheduleRun.job_name == "heartbeat")
        .group_by(ScheduleRun.slot)
    ).all()
    db.session.rollback()
    assert len(ledger) >= 3 and all(n == 1 for _, n in ledger)
    # every cron process really enqueued each slot: the losers ran and were skipped
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    finished = FinishedJobRegistry(queue=Queue("default", connection=redis)).count
    assert finished >= processes * (len(runs) - 1)
