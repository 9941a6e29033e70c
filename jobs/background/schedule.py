"""The job every cron registration enqueues: claim the slot, then run the schedule."""

from __future__ import annotations

import datetime as dt

from portal.background import schedules


def run(name: str, slot: str | None = None, catch_up: bool = False) -> str:
    """Run schedule `name` for `slot` (ISO business-local time) at most once cluster-wide."""
    from jobs.background.cron import schedule_by_name

    schedule = schedule_by_name(name)
    when = dt.datetime.fromisoformat(slot) if slot else schedules.local_now()
    return schedules.run_slot(schedule, when, catch_up)
