"""Used-amount feed from core banking (额度使用情况同步): the ledger-claimed `core_usage`
schedule pulls usage by core reference since the cursor from the sandbox core and updates
used/available; it is idempotent; bad rows are refused, counted and logged without
personal data; a core outage leaves the cursor where it was."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from jobs.background.cron import schedule_by_name
from models.background import IntegrationCursor, ScheduleRun
from models.credit import CreditLine
from portal.background import schedules
from portal.credit import usage_feed
from tests.support.credit import make_line

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]


def set_usage(sandbox, *rows) -> None:
    items = [{"line_ref": ref, "used": used} for ref, used in rows]
    httpx.post(f"{sandbox.url}/_sandbox/core/usage", json={"items": items}, timeout=5)


def run(slot: dt.datetime) -> tuple[str, dict | None]:
    from portal.core.extensions import db

    outcome = schedules.run_slot(schedule_by_name("core_usage"), slot)
    run = db.session.scalar(
        select(ScheduleRun).where(ScheduleRun.job_name == "core_usage", ScheduleRun.slot == slot)
    )
    return outcome, run.detail if run else None


def _line(db, line_id) -> CreditLine:
    db.session.expire_all()
    return db.session.get(CreditLine, line_id)


_SLOTS = itertools.count()
_BASE = dt.datetime(2031, 1, 1) + dt.timedelta(days=int(dt.datetime.now().timestamp()) % 9000)


@pytest.fixture()
def slot():
    """A fresh slot per call, unique across the session (the ledger allows one run per slot:
    two tests starting within the same second used to share their first slots, and the
    second test's run was skipped as already done)."""
    return lambda: _BASE + dt.timedelta(minutes=5 * next(_SLOTS))


def test_feed_updates_used_and_available_once_per_slot(app, db, sandbox, slot):
    a, b = make_line(limit="20000", used="0"), make_line(limit="50000", used="100")
    set_usage(sandbox, (a.core_ref, "1500.50"), (b.core_ref, "49000"))
    s1 = slot()
    outcome, detail = run(s1)
    assert outcome == "success" and "'updated': 2" in detail
    a, b = _line(db, a.id), _line(db, b.id)
    assert (a.used_amount, a.available_amount) == (Decimal("1500.50"), Decimal("18499.50"))
    assert (b.used_amount, b.available_amount) == (49000, 1000)
    assert a.usage_at is not None
    assert run(s1)[0] == "skipped"  # the ledger: one run per slot, however many processes
    # nothing new since the cursor: the next slot changes nothing
    assert "'updated'" not in (run(slot())[1] or "")
    # a repayment on one line comes through the next run
    set_usage(sandbox, (a.core_ref, "0"))
    run(slot())
    assert _line(db, a.id).available_amount == 20000
    assert _line(db, b.id).used_amount == 49000
    assert sandbox.stats()["calls"]["core.usage"] >= 3


def test_feed_replayed_from_an_old_cursor_changes_nothing(app, db, sandbox):
    line = make_line(limit="20000")
    set_usage(sandbox, (line.core_ref, "800"))
    first = usage_feed.pull(db.session)
    assert first["updated"] == 1
    cur = db.session.get(IntegrationCursor, usage_feed.CURSOR)
    cur.value = "0"  # e.g. a restore: the same rows are delivered again
    db.session.commit()
    again = usage_feed.pull(db.session)
    assert again.get("updated", 0) == 0 and again["unchanged"] == 1
    assert _line(db, line.id).used_amount == 800


def test_bad_rows_are_refused_counted_and_logged_without_personal_data(app, db, sandbox, caplog):
    good, over = make_line(limit="20000", used="10"), make_line(limit="10000", used="20")
    neg = make_line(limit="10000", used="30")
    set_usage(
        sandbox,
        (good.core_ref, "700"),
        ("CB-NOT-OURS-1", "100"),
        (neg.core_ref, "-5"),
        (over.core_ref, "10000.01"),
        (good.core_ref + "X", "1"),
    )
    httpx.post(
        f"{sandbox.url}/_sandbox/core/usage",
        json={"items": [{"line_ref": neg.core_ref + "Y", "used": "abc"}]},
        timeout=5,
    )
    with caplog.at_level(logging.WARNING, logger="portal.credit.usage_feed"):
        summary = usage_feed.pull(db.session)
    assert summary["updated"] == 1 and summary["refused"] == 5
    assert (summary["unknown"], summary["negative"], summary["over_limit"]) == (2, 1, 1)
    assert summary["invalid"] == 1
    assert _line(db, good.id).used_amount == 700
    assert _line(db, over.id).used_amount == 20 and _line(db, neg.id).used_amount == 30
    assert _line(db, over.id).usage_at is None
    text = caplog.text
    assert "refused" in text
    for line in (good, over, neg):
        c = line.customer
        for secret in (c.name, c.id_number, c.mobile):
            assert secret not in text
    assert db.session.get(IntegrationCursor, usage_feed.CURSOR).value == str(summary["cursor"])


def test_core_outage_fails_the_run_and_keeps_the_cursor(app, db, sandbox, slot):
    line = make_line(limit="20000")
    set_usage(sandbox, (line.core_ref, "300"))
    sandbox.configure(core={"failure_rate": 1.0})
    s = slot()
    with pytest.raises(Exception):  # noqa: B017 (the adapter's RetryableError)
        run(s)
    db.session.rollback()
    assert db.session.get(IntegrationCursor, usage_feed.CURSOR) is None
    assert _line(db, line.id).used_amount == 0
    sandbox.configure(core={"failure_rate": 0.0})
    run(slot())
    assert _line(db, line.id).used_amount == 300
