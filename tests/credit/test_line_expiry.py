"""End-of-day credit-line expiry (额度到期失效 in 日终跑批): the ledger-claimed
`credit_line_eod` schedule expires lines past their expiry date (正常 and 已冻结), with one
history row each, idempotent per business date, shown with Chinese labels."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from jobs.background.cron import schedule_by_name
from models.credit import CreditLine, CreditLineEvent
from portal.background import schedules
from portal.credit import line_expiry
from tests.support.credit import make_line

D = dt.date(2025, 6, 30)  # a business date before any other test's line expires


def _status(db, line_id) -> str:
    db.session.expire_all()
    return db.session.get(CreditLine, line_id).status


def _expire_events(db, line_id) -> list[CreditLineEvent]:
    return list(
        db.session.scalars(
            select(CreditLineEvent).where(
                CreditLineEvent.credit_line_id == line_id, CreditLineEvent.action == "expire"
            )
        )
    )


def test_eod_expires_lines_past_expiry_once_per_business_date(app, db, client_for):
    past = make_line(expiry=D - dt.timedelta(days=3))
    today = make_line(expiry=D, status="frozen")
    later = make_line(expiry=D + dt.timedelta(days=1))
    closed = make_line(expiry=D - dt.timedelta(days=10), status="closed")
    schedule = schedule_by_name("credit_line_eod")
    assert schedule.cron and schedule.catch_up and schedule.ledger
    slot = schedules.slot_at(schedule, dt.datetime.combine(D, dt.time(23, 30)))
    assert slot.date() == D
    assert schedules.run_slot(schedule, slot) == "success"
    assert [_status(db, x.id) for x in (past, today, later, closed)] == [
        "expired",
        "expired",
        "active",
        "closed",
    ]
    (ev,) = _expire_events(db, today.id)
    assert (ev.from_status, ev.to_status) == ("frozen", "expired")
    assert "日终跑批（2025-06-30）" in ev.reason
    assert len(_expire_events(db, past.id)) == 1 and not _expire_events(db, closed.id)
    # the same business date again: the ledger skips it, and a direct rerun changes nothing
    assert schedules.run_slot(schedule, slot) == "skipped"
    events = db.session.scalar(select(func.count()).select_from(CreditLineEvent))
    assert line_expiry.expire_lines(db.session, D)["expired"] == 0
    assert db.session.scalar(select(func.count()).select_from(CreditLineEvent)) == events
    page = client_for("branch_manager").get(f"/credit-lines/show/{past.id}").get_data(as_text=True)
    assert "已到期" in page and "到期失效" in page
    listing = client_for("branch_manager").get("/credit-lines/list/").get_data(as_text=True)
    assert "已到期" in listing


def test_the_next_business_date_expires_the_next_line(app, db):
    line = make_line(expiry=D + dt.timedelta(days=1))
    assert line_expiry.expire_lines(db.session, D)["expired"] == 0
    assert line_expiry.expire_lines(db.session, D + dt.timedelta(days=1))["expired"] >= 1
    assert _status(db, line.id) == "expired"
