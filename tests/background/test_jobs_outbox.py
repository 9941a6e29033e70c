"""Outbox: atomic with the business change, idempotent, retried with backoff, dead-lettered,
reconciled after Redis loses jobs — against the sandbox peer over real HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from models.background import OutboxItem
from models.sms.messages import SmsMessage
from portal.background import outbox
from tests.support.processes import drain

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]


@pytest.fixture(autouse=True)
def clean_outbox(db):
    db.session.execute(delete(OutboxItem))
    db.session.execute(delete(SmsMessage))
    db.session.commit()
    yield


def _core_items(db, n: int, prefix: str) -> None:
    for i in range(n):
        outbox.add(
            db.session,
            "core.open_credit_line",
            f"{prefix}:{i}",
            payload={"line_id": i, "amount": "10000.00"},
        )
    db.session.commit()


def test_outbox_row_rolls_back_with_the_business_change(db):
    """An outbox row exists only if the transaction that announced it commits."""
    outbox.add(db.session, "core.open_credit_line", "rollback:1", payload={})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxItem)) == 0


def test_core_calls_survive_500s_and_timeouts_without_duplicates(app, db, sandbox):
    """Half the calls fail (500) or answer after the timeout: every line opens exactly once."""
    app.config["INTEGRATION_READ_TIMEOUT"] = 0.4
    try:
        sandbox.configure(
            core={"failure_rate": 0.3, "timeout_rate": 0.3, "timeout_seconds": 0.8, "latency_ms": 1}
        )
        _core_items(db, 20, "line")
        db.session.execute(update(OutboxItem).values(max_attempts=12))  # 0.6^12: never dead
        db.session.commit()
        counts = drain(app, timeout=60)
    finally:
        app.config["INTEGRATION_READ_TIMEOUT"] = 10.0
    stats = sandbox.stats()
    assert counts == {"done": 20}
    assert stats["effects_by_op"]["core.credit-lines"] == 20  # one credit line per key
    assert stats["calls"]["core.credit-lines"] > 20  # failures really happened and were retried
    attempts = db.session.scalars(select(OutboxItem.attempts)).all()
    assert max(attempts) > 1


def test_sms_batch_retried_after_500s_is_delivered_once_per_message(app, db, sandbox):
    """A whole SMS batch fails with 500s, is retried, and every message arrives once."""
    from portal.sms import messages as sms

    sandbox.configure(sms={"failure_rate": 0.4})
    customer_ids = list(db.session.scalars(select(sms.Customer.id).limit(30)))
    sms.queue_to_customers(
        db.session,
        "line_opened",
        customer_ids,
        {"product": "消费易", "limit": "5,000"},
        key_prefix="t-500",
    )
    db.session.execute(update(OutboxItem).values(max_attempts=12))  # 0.4^12: never dead
    db.session.commit()
    assert drain(app, timeout=60) == {"done": 30}
    stats = sandbox.stats()
    assert stats["effects"]["sms"] == 30
    assert stats["max_received_per_key"] == 1  # a 500 arrives before any effect
    assert sms.poll_receipts() == 30
    states = db.session.scalars(select(SmsMessage.state)).all()
    assert set(states) == {"delivered"}


def test_permanent_error_dead_letters_at_once(app, db, sandbox):
    """A permanent failure (here: the message row is gone) is dead after one attempt."""
    outbox.add(db.session, "sms.send", "sms:missing", ref_id=999_999)
    db.session.commit()
    assert drain(app) == {"dead": 1}
    dead = db.session.scalar(select(OutboxItem))
    assert dead.attempts == 1 and dead.last_error == "message row missing"


def test_retries_exhausted_dead_letter_then_retry_button_revives(app, db, sandbox):
    """Retryable failures back off until the last attempt, then dead; retry sends it again."""
    sandbox.configure(mbank={"failure_rate": 1.0})
    outbox.add(db.session, "mbank.offers", "offers:1", payload={"offers": [{"id": 1}]})
    db.session.commit()
    item = db.session.scalar(select(OutboxItem))
    item.max_attempts = 3
    db.session.commit()
    assert drain(app) == {"dead": 1}
    db.session.refresh(item)
    assert item.attempts == 3 and "500" in item.last_error
    assert sandbox.stats()["calls"]["mbank.offers"] == 3
    sandbox.configure(mbank={"failure_rate": 0.0})
    assert outbox.retry_dead(db.session, [item.id]) == 1
    db.session.commit()
    assert drain(app) == {"done": 1}
    assert sandbox.stats()["effects"]["mbank"] == 1


def test_backoff_is_exponential_and_capped(app):
    app.config["OUTBOX_BACKOFF_BASE"] = 2.0
    try:
        delays = [outbox.backoff(n) for n in (1, 2, 3, 4, 20)]
    finally:
        app.config["OUTBOX_BACKOFF_BASE"] = 5.0
    assert 1.6 <= delays[0] <= 2.4 and 3.2 <= delays[1] <= 4.8 and 6.4 <= delays[2] <= 9.6
    assert delays[4] <= app.config["OUTBOX_BACKOFF_MAX"] * 1.2


def test_reconciler_recovers_items_whose_jobs_redis_lost(app, db, sandbox, redis):
    """Items enqueued, then Redis is emptied: the reconciler puts every one back; none lost."""
    _core_items(db, 12, "lost")
    assert outbox.dispatch() == 12
    redis.flushdb()
    assert outbox.reconcile(grace_seconds=-1) == {"lost": 12, "expired": 0}
    assert drain(app) == {"done": 12}
    assert sandbox.stats()["effects"]["core"] == 12


def test_batched_items_go_in_one_insert_and_not_at_all_on_error(db):
    """outbox.batched(): the items added inside (also from nested code) are written by one
    INSERT when the block ends; if the block raises, none is written."""
    from sqlalchemy import event

    inserts: list[int] = []

    def count(conn, cursor, statement, params, context, executemany):
        if statement.replace('"', "").lstrip().upper().startswith("INSERT INTO OUTBOX_ITEM"):
            inserts.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with outbox.batched(db.session):
            outbox.add(db.session, "core.open_credit_line", "batched:1", payload={"n": 1})
            with outbox.batched(db.session):  # nested: still the outer block's one insert
                outbox.add(db.session, "core.open_credit_line", "batched:2", payload={"n": 2})
            assert inserts == []  # nothing yet
        assert len(inserts) == 1
        with pytest.raises(RuntimeError):
            with outbox.batched(db.session):
                outbox.add(db.session, "core.open_credit_line", "batched:3", payload={"n": 3})
                raise RuntimeError("the business change failed")
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    keys = db.session.scalars(select(OutboxItem.idempotency_key).order_by(OutboxItem.id)).all()
    assert keys == ["batched:1", "batched:2"]
    assert len(inserts) == 1


def test_kick_asks_for_one_dispatch_a_second_per_process(app, redis, monkeypatch):
    """A busy web process asks Redis for a dispatch at most once a second (the other
    requests skip the round trip); after a second it asks again."""
    from portal.background.rq_queues import get_queue

    monkeypatch.setattr(outbox, "_last_kick", [0.0])
    queue = get_queue("default")
    outbox.kick()
    assert queue.count == 1
    redis.delete("portal:outbox:kick")  # not Redis's own once-a-second key: this process's
    outbox.kick()
    assert queue.count == 1
    outbox._last_kick[0] -= 1.5  # a second and a half later
    redis.delete("portal:outbox:kick")
    outbox.kick()
    assert queue.count == 2
