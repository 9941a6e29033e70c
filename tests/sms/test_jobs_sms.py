"""SMS rules: template validation on save, quiet hours for marketing, opt-out, send rate."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import delete, select

from models.background import OutboxItem
from models.customers import Customer
from models.sms.messages import SmsMessage, SmsOptOut
from portal.background import outbox
from portal.sms import messages as sms
from portal.sms.templates import problems, render
from tests.support.processes import drain

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]

OFFER = {"product": "消费易", "limit": "50,000", "expiry_date": "2026-12-31"}


@pytest.fixture(autouse=True)
def clean(db):
    for model in (OutboxItem, SmsMessage, SmsOptOut):
        db.session.execute(delete(model))
    db.session.commit()
    yield


@pytest.mark.parametrize(
    ("body", "variables", "category", "expected"),
    [
        ("您好{{ customer_name }}", "customer_name", "notice", None),
        ("您好{{ customer_name ", "customer_name", "notice", "模板语法错误"),
        ("您好{{ id_number }}", "id_number", "notice", "不支持的变量：id_number"),
        ("额度{{ limit }}元", "", "notice", "未声明的变量：limit"),
        ("额度{{ limit }}元", "limit", "marketing", "退订"),
        ("{{ customer_name.__class__.__mro__ }}", "customer_name", "notice", "试渲染失败"),
        ("{{ '好' * 400 }}", "", "notice", "超过 300 字"),
    ],
)
def test_template_validation_on_save(body, variables, category, expected):
    found = problems(body, variables, category)
    if expected is None:
        assert found == []
    else:
        assert any(expected in p for p in found), found


def test_render_refuses_missing_variables():
    with pytest.raises(Exception, match="customer_name"):
        render("您好{{ customer_name }}", {})


def _quiet(app, start: str, end: str):
    app.config["SMS_QUIET_START"], app.config["SMS_QUIET_END"] = start, end


def _local_hm(delta_minutes: int) -> str:
    from zoneinfo import ZoneInfo

    t = dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(minutes=delta_minutes)
    return t.strftime("%H:%M")


def test_marketing_sms_in_quiet_hours_is_deferred_not_sent(app, db, sandbox):
    """Queued inside quiet hours: marketing waits until they end; a notice goes now."""
    saved = app.config["SMS_QUIET_START"], app.config["SMS_QUIET_END"]
    _quiet(app, _local_hm(-60), _local_hm(+90))
    try:
        ids = list(db.session.scalars(select(Customer.id).limit(3)))
        sms.queue_to_customers(db.session, "offer_marketing", ids, OFFER, key_prefix="q")
        sms.queue_to_customers(
            db.session, "line_opened", ids[:1], {"product": "消费易", "limit": "1"}, key_prefix="n"
        )
        db.session.commit()
        outbox.dispatch()
        from jobs.background.worker import run_worker

        run_worker(app, burst=True)
        states = dict(db.session.execute(select(SmsMessage.category, SmsMessage.state)).all())
        assert states == {"marketing": "deferred", "notice": "sent"}
        item = db.session.scalar(
            select(OutboxItem).where(OutboxItem.idempotency_key.like("sms:q:%"))
        )
        wait = item.next_attempt_at - outbox.utcnow()
        assert dt.timedelta(minutes=85) < wait <= dt.timedelta(minutes=91)
        assert sandbox.stats()["effects"]["sms"] == 1
        # a retry that falls into quiet hours is deferred again at send time
        item.next_attempt_at = outbox.utcnow()
        db.session.commit()
        outbox.dispatch()
        run_worker(app, burst=True)
        db.session.refresh(item)
        assert item.state == "pending" and item.attempts == 0
        assert sandbox.stats()["effects"]["sms"] == 1
    finally:
        _quiet(app, *saved)


def test_quiet_hours_window_across_midnight(app):
    from zoneinfo import ZoneInfo

    sh = ZoneInfo("Asia/Shanghai")

    def utc(h, m):
        return dt.datetime(2026, 11, 5, h, m, tzinfo=sh).astimezone(dt.UTC).replace(tzinfo=None)

    assert sms.quiet_until(utc(12, 0)) is None
    assert sms.quiet_until(utc(21, 30)) == utc(8, 0) + dt.timedelta(days=1)
    assert sms.quiet_until(utc(7, 59)) == utc(8, 0)
    assert sms.quiet_until(utc(8, 0)) is None


def test_opted_out_customer_gets_no_marketing_but_gets_notices(app, db, sandbox):
    saved = app.config["SMS_QUIET_START"], app.config["SMS_QUIET_END"]
    _quiet(app, "00:00", "00:00")
    try:
        ids = list(db.session.scalars(select(Customer.id).limit(4)))
        sms.set_opt_out(db.session, ids[0])
        db.session.commit()
        result = sms.queue_to_customers(db.session, "offer_marketing", ids, OFFER, "m")
        sms.queue_to_customers(
            db.session, "line_opened", ids[:1], {"product": "消费易", "limit": "1"}, key_prefix="n"
        )
        db.session.commit()
        assert result == {"queued": 3, "suppressed": 1}
        assert drain(app) == {"done": 4}
        got = db.session.execute(
            select(SmsMessage.category, SmsMessage.state).where(SmsMessage.customer_id == ids[0])
        ).all()
        assert sorted(got) == [("marketing", "suppressed"), ("notice", "sent")]
        assert sandbox.stats()["effects"]["sms"] == 4
    finally:
        _quiet(app, *saved)


def test_send_rate_is_limited_cluster_wide(app, db):
    from portal.sms.rate_limit import acquire

    start = time.monotonic()
    for _ in range(3):
        acquire("test", 40, per_second=50)
    assert time.monotonic() - start >= 1.0  # the 2nd and 3rd requests wait for new windows


def test_dead_lettered_sms_is_marked_failed_and_a_retry_can_still_send_it(app, db, sandbox):
    """The outbox's dead-letter hook keeps the message log honest."""
    cid = db.session.scalars(select(Customer.id).order_by(Customer.id)).first()
    sms.queue_to_customers(
        db.session, "line_opened", [cid], {"product": "消费易", "limit": "1"}, "dead"
    )
    db.session.commit()
    item = db.session.scalar(select(OutboxItem))
    item.max_attempts = 1
    db.session.commit()
    sandbox.configure(sms={"failure_rate": 1.0})
    try:
        assert drain(app) == {"dead": 1}
        msg = db.session.scalar(select(SmsMessage))
        db.session.refresh(msg)
        assert msg.state == "failed"
        sandbox.configure(sms={"failure_rate": 0.0})
        assert outbox.retry_dead(db.session, [item.id]) == 1
        db.session.commit()
        assert drain(app) == {"done": 1}
        db.session.refresh(msg)
        assert msg.state == "sent"
    finally:
        sandbox.configure(sms={"failure_rate": 0.0})
