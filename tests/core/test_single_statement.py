"""portal.core.single_statement: inside ``collect`` a unit of work's writes are collected and sent
to PostgreSQL as ONE statement at the block's end (data-modifying CTEs, the row values in
one JSON parameter), the guard's UPDATE deciding whether any row is written, ON CONFLICT
counts and after-checks; nothing is sent when the block raises. On SQLite ``collect``
yields None and every write runs as it is made.

Every test runs on both databases and asserts what each one does (CI runs the suite on
both with CI=true, where a skip is a failure): the statement-level facts on PostgreSQL, the
write-at-once path on SQLite, and the same rows on file afterwards on both."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from decimal import Decimal

import pytest
from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import IntegrityError

from models.applications import Application, ApplicationEvent, ChannelRequest
from models.background import OutboxItem
from models.integrations import CreditAuthorization
from models.sms.messages import SmsMessage
from models.whitelist import Offer, OfferHistory
from portal.channel import intake
from portal.channel.request_bodies import ChannelError
from portal.core import multirow
from portal.core import single_statement as statement_batch
from portal.core.single_statement import Batch, Guard
from portal.whitelist import offers
from tests.support.applications import (
    ChannelClient,
    channel_key,
    fresh_customer,
    fresh_offer,
    submit_body,
)

OUTBOX = OutboxItem.__table__
AUTH = CreditAuthorization.__table__
HISTORY = OfferHistory.__table__
SMS = SmsMessage.__table__
REQUESTS = ChannelRequest.__table__
WRITES = ("INSERT", "UPDATE", "DELETE", "WITH")


def _pg(db) -> bool:
    return db.engine.dialect.name == "postgresql"


@contextlib.contextmanager
def statements(engine):
    """Every statement sent to the engine inside the block, in order."""
    sent: list[str] = []

    def spy(conn, cursor, statement, params, context, executemany):
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", spy)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", spy)


def _writes(sent: list[str]) -> list[str]:
    return [q for q in sent if q.lstrip().split(None, 1)[0].upper() in WRITES]


def _tag() -> str:
    return secrets.token_hex(6)


@pytest.fixture(scope="module", autouse=True)
def _leave_no_outbox_work(app):
    """The outbox rows made here are pending items no handler can finish (no message behind
    them): remove them after the module, so a later test's drain() is not left waiting."""
    yield
    with app.app_context():
        from portal.core.extensions import db as _db

        _db.session.execute(delete(OutboxItem).where(OutboxItem.idempotency_key.like("sb-%")))
        _db.session.commit()


def _outbox_row(key: str, **over) -> dict:
    row = dict(
        kind="sms.send",
        idempotency_key=key,
        ref_id=None,
        payload=None,
        state="pending",
        attempts=0,
        max_attempts=6,
        next_attempt_at=dt.datetime(2026, 11, 23, 9, 0, 0),
        institution_id=None,
        created_at=dt.datetime(2026, 11, 23, 9, 0, 0),
    )
    row.update(over)
    return row


def _auth_row(customer_id: int, number: str, **over) -> dict:
    row = dict(
        customer_id=customer_id,
        authorization_no=number,
        signed_at=dt.datetime(2026, 3, 1, 8, 30, 15, 123456),
        valid_until=dt.date(2026, 5, 30),
        purpose="loan_approval",
        revoked=False,
    )
    row.update(over)
    return row


def _request_row(tag: str) -> dict:
    return dict(
        channel="mbank",
        request_id=f"SB{tag}",
        endpoint="submit",
        status_code=201,
        response={"code": "OK", "message": "申请已受理"},
        at=dt.datetime(2026, 11, 23, 9, 0),
    )


def _count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _row(db, table, key_col, key, columns) -> dict:
    cols = [table.c[c] for c in columns]
    return db.session.execute(select(*cols).where(table.c[key_col] == key)).one()._asdict()


# --- one statement, exact values ---------------------------------------------------------------


def test_rows_of_several_tables_round_trip_exactly_in_one_statement_on_postgresql(db):
    s = db.session
    offer = fresh_offer()
    customer_id, offer_id, institution_id = offer.customer_id, offer.id, offer.institution_id
    tag = _tag()
    payload = {
        "申请": {"编号": "AP" + tag, "金额": "20000.00", "标签": ["新", "急"]},
        "n": 3,
        "ok": True,
        "none": None,
        "ratio": 0.25,
        "big": 9_007_199_254_740_993,
        "nested": {"deep": {"list": [1, {"名": "张三"}, None, False]}},
    }
    outbox_rows = [
        _outbox_row(
            f"sb-{tag}-1",
            payload=payload,
            ref_id=2_000_000_001,
            next_attempt_at=dt.datetime(2026, 11, 23, 9, 15, 7, 654321),
            institution_id=institution_id,
        ),
        _outbox_row(f"sb-{tag}-2", payload={"空": {}}, kind="mbank.application_status"),
    ]
    auth_row = _auth_row(
        customer_id,
        f"ZXSQ{tag}",
        purpose="贷款审批",
        revoked=True,
        signed_at=dt.datetime(2026, 2, 28, 23, 59, 59, 999999),
        valid_until=dt.date(2026, 2, 28),
    )
    history_row = dict(
        offer_id=offer_id,
        event="adjusted",
        version=7,
        old_limit=Decimal("20000.00"),
        new_limit=Decimal("12345678.91"),
        old_rate=Decimal("6.5000"),
        new_rate=None,
        old_expiry=dt.date(2026, 1, 31),
        new_expiry=dt.date(2027, 12, 31),
        old_status=None,
        new_status="active",
        import_id=None,
        actor_id=None,
        reason=f"额度调整：客户经理复核通过 ✓ {tag}",
        at=dt.datetime(2026, 11, 23, 9, 0, 0, 1),
    )
    sms_row = dict(
        customer_id=customer_id,
        mobile="13800138000",
        template_code=None,
        category="notice",
        content=f"【测试银行】您好，张三：您的消费易申请已受理。{tag}",
        state="queued",
        institution_id=None,
        branch_id=None,
        created_at=dt.datetime(2026, 11, 23, 9, 0, 0),
        not_before=None,
    )
    s.commit()  # the factories' writes are not counted below

    with statements(db.engine) as sent:
        with statement_batch.collect(s) as batch:
            assert statement_batch.current(s) is batch
            multirow.insert_rows(s, OUTBOX, outbox_rows)
            multirow.insert_rows(s, AUTH, [auth_row])
            multirow.insert_rows(s, HISTORY, [history_row])
            multirow.insert_rows(s, SMS, [sms_row])
            in_block = list(sent)
        assert statement_batch.current(s) is None
    if _pg(db):
        assert isinstance(batch, Batch) and len(batch.inserts) == 4
        assert in_block == []  # only collected
        assert len(sent) == 1, sent  # ONE statement for the four tables
        assert sent[0].lstrip().upper().startswith("WITH")
        assert batch.guard_count == 0 and batch.inserted == [None, None, None, None]
    else:
        assert batch is None
        assert len(_writes(in_block)) == 4  # written as made: one INSERT per table
        assert sent == in_block  # nothing at the block's end
    s.commit()
    s.expire_all()

    for row in outbox_rows:
        assert _row(db, OUTBOX, "idempotency_key", row["idempotency_key"], list(row)) == row
    got_auth = _row(db, AUTH, "authorization_no", auth_row["authorization_no"], list(auth_row))
    assert got_auth == auth_row and got_auth["revoked"] is True
    got_hist = _row(db, HISTORY, "reason", history_row["reason"], list(history_row))
    assert got_hist == history_row
    # Decimal exactly as sent: a Decimal with its scale, not a float
    assert isinstance(got_hist["old_limit"], Decimal)
    assert (str(got_hist["old_limit"]), str(got_hist["new_limit"])) == ("20000.00", "12345678.91")
    assert str(got_hist["old_rate"]) == "6.5000"
    assert _row(db, SMS, "content", sms_row["content"], list(sms_row)) == sms_row


def test_rows_with_different_columns_keep_their_own_columns(db, request):
    """insert_rows given rows with different column sets: each row keeps its own values (in
    a batch each column set is its own INSERT of the one statement).

    Outside a batch (SQLite; PostgreSQL outside the intake) each column set is its own
    INSERT too (an executemany would take the first row's columns and drop a later row's
    extra one without a word)."""
    s = db.session
    tag = _tag()
    plain = _outbox_row(f"sb-{tag}-a")
    with_lease = _outbox_row(f"sb-{tag}-b", lease_until=dt.datetime(2026, 11, 23, 10, 0))
    with statements(db.engine) as sent:
        with statement_batch.collect(s) as batch:
            multirow.insert_rows(s, OUTBOX, [plain, with_lease])
            if batch is not None:
                assert [len(rows) for _t, rows, _c in batch.inserts] == [1, 1]
    if _pg(db):
        assert len(sent) == 1
    s.commit()
    got = _row(db, OUTBOX, "idempotency_key", f"sb-{tag}-b", ["lease_until", "state"])
    assert got == {"lease_until": dt.datetime(2026, 11, 23, 10, 0), "state": "pending"}
    assert _row(db, OUTBOX, "idempotency_key", f"sb-{tag}-a", ["lease_until"]) == {
        "lease_until": None
    }


def test_an_empty_block_sends_nothing(db):
    with statements(db.engine) as sent:
        with statement_batch.collect(db.session) as batch:
            pass
    assert sent == []
    if _pg(db):
        assert batch is not None and batch.inserted == [] and batch.guard_count == 0
    else:
        assert batch is None


def test_a_nested_collect_yields_none_and_the_outer_block_writes(db):
    s = db.session
    key = f"sb-{_tag()}-nested"
    with statements(db.engine) as sent:
        with statement_batch.collect(s) as outer:
            with statement_batch.collect(s) as inner:
                assert inner is None
                multirow.insert_rows(s, OUTBOX, [_outbox_row(key)])
            after_inner = len(_writes(sent))
            assert statement_batch.current(s) is outer
    if _pg(db):
        assert after_inner == 0  # the inner block's end sent nothing
        assert len(outer.inserts) == 1
        assert len(sent) == 1
    else:
        assert outer is None and after_inner == 1
    s.commit()
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == key) == 1


# --- the guard (the offer service's conditional UPDATE) ----------------------------------------


def test_a_matching_guard_writes_everything_and_checks_run_in_order(db):
    s = db.session
    offer = fresh_offer()
    offer_id, version, status, expiry = offer.id, offer.version, offer.status, offer.expiry_date
    customer_id = offer.customer_id
    tag = _tag()
    seen = []
    with statements(db.engine) as sent:
        with statement_batch.collect(s) as batch:
            offers.mark_applied(s, offer_id, locked=(status, version, expiry))
            multirow.insert_rows(s, OUTBOX, [_outbox_row(f"sb-{tag}-g")])
            intake._authorization(
                s,
                customer_id,
                {"ref": f"ZXSQ{tag}", "signed_at": dt.datetime(2026, 11, 1, 10, 0)},
            )
            if batch is not None:
                assert batch.guard is not None and batch.guard.name == "offer.apply"
                batch.after(lambda: seen.append(("mine", batch.guard_count, list(batch.inserted))))
                assert seen == []  # checks run after the statement, not when registered
            in_block = len(_writes(sent))
    if _pg(db):
        assert in_block == 0 and len(sent) == 1
        assert seen == [("mine", 1, [None, 1])]
    else:
        assert batch is None and in_block >= 4  # update, history, outbox, authorization
    s.commit()
    s.expire_all()
    now = s.get(Offer, offer_id)
    assert (now.status, now.version) == ("applied", version + 1)
    hist = s.scalars(select(OfferHistory).where(OfferHistory.offer_id == offer_id)).one()
    assert (hist.event, hist.version, hist.old_status, hist.new_status) == (
        "applied",
        version + 1,
        status,
        "applied",
    )
    assert hist.at == now.updated_at
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == f"sb-{tag}-g") == 1
    assert (
        _count(db, CreditAuthorization, CreditAuthorization.authorization_no == f"ZXSQ{tag}") == 1
    )


def test_a_guard_matching_no_row_writes_nothing_and_its_check_raises(db):
    """The offer's guarded update against a stale version (another submission won): on
    PostgreSQL the statement is sent, guard_count is 0, none of the collected rows is
    written and the service's after-check raises; later checks do not run. On SQLite the
    update fails at once. Either way nothing of the unit is on file."""
    s = db.session
    offer = fresh_offer()
    offer_id, version, status, expiry = offer.id, offer.version, offer.status, offer.expiry_date
    before = (offer.status, offer.version, offer.updated_at, offer.applied_at)
    customer_id = offer.customer_id
    tag = _tag()
    seen = []
    with statements(db.engine) as sent:
        with pytest.raises(offers.OfferError):
            with statement_batch.collect(s) as batch:
                if batch is not None:
                    batch.after(lambda: seen.append(("before", batch.guard_count)))
                offers.mark_applied(s, offer_id, locked=(status, version - 1, expiry))
                multirow.insert_rows(s, OUTBOX, [_outbox_row(f"sb-{tag}-lost")])
                multirow.insert_rows(s, REQUESTS, [_request_row(tag)])
                if batch is not None:
                    batch.add_rows(
                        AUTH, [_auth_row(customer_id, f"ZXSQ{tag}")], ("authorization_no",)
                    )
                    batch.after(lambda: seen.append(("after", batch.guard_count)))
    if _pg(db):
        assert len(sent) == 1  # sent; its inserts took no rows
        assert batch.guard_count == 0
        assert batch.inserted == [None, None, 0]
        assert seen == [("before", 0)]  # in order; the failing check stopped the rest
    else:
        assert batch is None
        assert len(_writes(sent)) == 1  # the UPDATE, which matched nothing
    s.rollback()
    s.expire_all()
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == f"sb-{tag}-lost") == 0
    assert _count(db, ChannelRequest, ChannelRequest.request_id == f"SB{tag}") == 0
    assert (
        _count(db, CreditAuthorization, CreditAuthorization.authorization_no == f"ZXSQ{tag}") == 0
    )
    assert _count(db, OfferHistory, OfferHistory.offer_id == offer_id) == 0
    now = s.get(Offer, offer_id)
    assert (now.status, now.version, now.updated_at, now.applied_at) == before


def test_an_after_check_raising_is_propagated(db):
    """On PostgreSQL a check registered with after() runs at the block's end; its exception
    leaves the block (the caller rolls back) and the checks after it do not run."""
    s = db.session
    key = f"sb-{_tag()}-chk"
    calls = []

    def boom():
        calls.append("boom")
        raise ValueError("检查失败")

    def unit():
        with statement_batch.collect(s) as batch:
            multirow.insert_rows(s, OUTBOX, [_outbox_row(key)])
            if batch is not None:
                batch.after(lambda: calls.append("first"))
                batch.after(boom)
                batch.after(lambda: calls.append("never"))
        return batch

    if _pg(db):
        with pytest.raises(ValueError, match="检查失败"):
            unit()
        assert calls == ["first", "boom"]
        assert statement_batch.current(s) is None
        assert _count(db, OutboxItem, OutboxItem.idempotency_key == key) == 1  # sent...
        s.rollback()  # ...and undone by the caller's rollback
    else:
        assert unit() is None and calls == []
        s.rollback()
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == key) == 0


def test_one_guard_per_batch():
    batch = Batch()
    guard = Guard("g", "UPDATE offer SET version = version WHERE false RETURNING id", (), {})
    batch.set_guard(guard)
    with pytest.raises(RuntimeError):
        batch.set_guard(guard)
    assert batch.guard is guard


# --- ON CONFLICT DO NOTHING --------------------------------------------------------------------


def test_a_conflicting_insert_counts_zero_and_keeps_the_existing_row(db):
    """The intake's authorization: on file already (ours: fine; someone else's: refused),
    or new. On PostgreSQL it is an INSERT … ON CONFLICT DO NOTHING of the batch whose count
    the after-check reads; the existing row is never changed."""
    s = db.session
    owner, other = fresh_customer(), fresh_customer()
    owner_id, other_id = owner.id, other.id
    tag = _tag()
    existing = _auth_row(owner_id, f"ZXSQ{tag}-old")
    s.execute(AUTH.insert(), existing)
    s.commit()
    counts = []
    with statements(db.engine) as sent:
        with statement_batch.collect(s) as batch:
            # the owner's own authorization again (a second application): accepted
            intake._authorization(
                s, owner_id, {"ref": f"ZXSQ{tag}-old", "signed_at": dt.datetime(2020, 1, 1)}
            )
            intake._authorization(
                s, other_id, {"ref": f"ZXSQ{tag}-new", "signed_at": dt.datetime(2026, 11, 1)}
            )
            multirow.insert_rows(s, OUTBOX, [_outbox_row(f"sb-{tag}-c")])
            if batch is not None:
                pair = [
                    _auth_row(other_id, f"ZXSQ{tag}-new2"),
                    _auth_row(other_id, f"ZXSQ{tag}-old"),
                ]
                assert batch.add_rows(AUTH, pair, ("authorization_no",)) == 3
                batch.after(lambda: counts.append(list(batch.inserted)))
    if _pg(db):
        # one write; then the check's read of the existing authorization's owner
        assert len(_writes(sent)) == 1 and len(sent) == 2
        assert "credit_authorization.authorization_no" in sent[1]
        assert counts == [[0, 1, None, 1]]  # existing → 0, new → 1, no conflict cols → None
    s.commit()
    s.expire_all()
    assert _row(db, AUTH, "authorization_no", f"ZXSQ{tag}-old", list(existing)) == existing
    new = _row(db, AUTH, "authorization_no", f"ZXSQ{tag}-new", ["customer_id", "signed_at"])
    assert new == {"customer_id": other_id, "signed_at": dt.datetime(2026, 11, 1)}
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == f"sb-{tag}-c") == 1
    if _pg(db):
        assert (
            _count(
                db, CreditAuthorization, CreditAuthorization.authorization_no == f"ZXSQ{tag}-new2"
            )
            == 1
        )

    # someone else's authorization number: refused (on PostgreSQL by the after-check)
    with pytest.raises(ChannelError) as refused:
        with statement_batch.collect(s):
            intake._authorization(
                s, other_id, {"ref": f"ZXSQ{tag}-old", "signed_at": dt.datetime(2026, 11, 2)}
            )
    assert refused.value.code == "AUTHORIZATION_INVALID"
    s.rollback()
    assert _row(db, AUTH, "authorization_no", f"ZXSQ{tag}-old", list(existing)) == existing


def test_a_unique_violation_without_conflict_columns_fails_the_whole_unit(db):
    s = db.session
    tag = _tag()
    s.execute(OUTBOX.insert(), _outbox_row(f"sb-{tag}-dup"))
    s.commit()
    with statements(db.engine) as sent:
        with pytest.raises(IntegrityError):
            with statement_batch.collect(s):
                multirow.insert_rows(s, REQUESTS, [_request_row(tag)])
                multirow.insert_rows(s, OUTBOX, [_outbox_row(f"sb-{tag}-dup", kind="other")])
    assert len(_writes(sent)) == (1 if _pg(db) else 2)
    s.rollback()
    assert _count(db, ChannelRequest, ChannelRequest.request_id == f"SB{tag}") == 0
    assert _row(db, OUTBOX, "idempotency_key", f"sb-{tag}-dup", ["kind"]) == {"kind": "sms.send"}


# --- the block raises --------------------------------------------------------------------------


def test_an_exception_in_the_block_sends_nothing_on_postgresql(db):
    s = db.session
    offer = fresh_offer()
    offer_id, version, status, expiry = offer.id, offer.version, offer.status, offer.expiry_date
    tag = _tag()
    checks = []
    with statements(db.engine) as sent:
        with pytest.raises(RuntimeError, match="中途失败"):
            with statement_batch.collect(s) as batch:
                offers.mark_applied(s, offer_id, locked=(status, version, expiry))
                multirow.insert_rows(s, OUTBOX, [_outbox_row(f"sb-{tag}-x")])
                multirow.insert_rows(s, REQUESTS, [_request_row(tag)])
                if batch is not None:
                    batch.after(lambda: checks.append("ran"))
                raise RuntimeError("中途失败")
    if _pg(db):
        assert sent == []  # not one statement
        assert checks == []
    else:
        assert len(_writes(sent)) == 4  # update, history, outbox, request: made at once
        assert _count(db, OutboxItem, OutboxItem.idempotency_key == f"sb-{tag}-x") == 1
    assert statement_batch.current(s) is None  # the session is free for the next unit
    s.rollback()
    s.expire_all()
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == f"sb-{tag}-x") == 0
    assert _count(db, ChannelRequest, ChannelRequest.request_id == f"SB{tag}") == 0
    assert _count(db, OfferHistory, OfferHistory.offer_id == offer_id) == 0
    assert (s.get(Offer, offer_id).status, s.get(Offer, offer_id).version) == (status, version)
    # the next block on the same session collects and writes as usual
    with statement_batch.collect(s) as again:
        if _pg(db):
            assert again is not None and again is not batch and again.inserts == []
        multirow.insert_rows(s, OUTBOX, [_outbox_row(f"sb-{tag}-y")])
    s.commit()
    assert _count(db, OutboxItem, OutboxItem.idempotency_key == f"sb-{tag}-y") == 1


# --- the intake's submission ---------------------------------------------------------------------


def test_a_submission_writes_with_one_statement_on_postgresql(app, db, templates):
    """A signed submit: on PostgreSQL one write statement carries the offer update and its
    history, the authorization, the application and its events, the SMS, the outbox items
    and the idempotency record, with the ids drawn in the first read; on SQLite they are
    written one by one. The same rows are on file either way."""
    offer = fresh_offer()
    offer_id = offer.id
    key_id, secret = channel_key()
    body = submit_body(offer)
    api = ChannelClient(app.test_client(), key_id, secret)
    with statements(db.engine) as sent:
        resp = api.call("POST", "/applications", body)
    assert resp.status_code == 201, resp.get_json()
    writes = _writes(sent)
    if _pg(db):
        assert len(writes) == 1, writes
        assert "jsonb_populate_recordset" in writes[0]
    else:
        assert len(writes) > 1
    s = db.session
    s.expire_all()
    application = s.scalar(
        select(Application).where(Application.channel_request_id == body["request_id"])
    )
    assert application is not None and application.state == "assigned"
    assert application.app_no == resp.get_json()["application"]["app_no"]
    assert application.amount == Decimal("20000.00")
    assert application.device == body["device"]
    assert s.get(Offer, offer_id).status == "applied"
    events = s.execute(
        select(ApplicationEvent.action, ApplicationEvent.version)
        .where(ApplicationEvent.application_id == application.id)
        .order_by(ApplicationEvent.version)
    ).all()
    assert [tuple(e) for e in events] == [("submit", 1), ("assign", 2)]
    assert _count(db, ChannelRequest, ChannelRequest.request_id == body["request_id"]) == 1
    auth = s.scalar(
        select(CreditAuthorization).where(
            CreditAuthorization.authorization_no == body["authorization"]["ref"]
        )
    )
    assert auth is not None and auth.customer_id == application.customer_id
    sms_id = s.scalar(
        select(OutboxItem.ref_id)
        .where(OutboxItem.kind == "sms.send", OutboxItem.ref_id.is_not(None))
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )
    sms = s.get(SmsMessage, sms_id)
    assert sms is not None and "新的消费易申请" in sms.content


# --- values the plain path stores ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["NUL\x00inside", "lone surrogate \ud800"], ids=["nul", "surrogate"]
)
def test_json_text_the_plain_path_stores_is_stored_in_a_batch_too(db, request, value):
    """A JSON column's string with U+0000 or a lone surrogate: PostgreSQL's json type (the
    columns' type) and SQLite store it when written as usual. In a batch the row values
    travel in one jsonb parameter, which cannot hold U+0000 ("unsupported Unicode escape
    sequence"), and the lone surrogate cannot even be encoded: such a batch goes statement
    by statement instead, with the same result. (The channel API refuses such device text
    with a 400 before it gets here.)"""
    s = db.session
    key = f"sb-{_tag()}-json"
    payload = {"device": {"os": value}}
    try:
        with statement_batch.collect(s):
            multirow.insert_rows(s, OUTBOX, [_outbox_row(key, payload=payload)])
        s.commit()
    except Exception:
        s.rollback()
        raise
    assert _row(db, OUTBOX, "idempotency_key", key, ["payload"]) == {"payload": payload}


# --- ids drawn beforehand ------------------------------------------------------------------------


def test_take_id_hands_out_given_ids_in_order_per_table():
    batch = Batch()
    assert batch.take_id("application") is None
    batch.give_ids("application", [101, 102])
    batch.give_ids("sms_message", [7])
    batch.give_ids("application", [103])
    assert batch.take_id("sms_message") == 7
    assert [batch.take_id("application") for _ in range(4)] == [101, 102, 103, None]
    assert batch.take_id("sms_message") is None
    assert batch.take_id("outbox_item") is None
    batch.give_ids("sms_message", [])
    assert batch.take_id("sms_message") is None


def test_open_application_takes_the_pre_drawn_id(db, templates):
    """lifecycle.open_application inside a batch inserts the application under the id given
    to the batch (the intake draws it from the sequence in its first read); on SQLite the
    database assigns it."""
    from portal.applications import lifecycle
    from tests.support.applications import user_id

    s = db.session
    offer = fresh_offer()
    now = dt.datetime(2026, 11, 23, 9, 0, 0)
    values = dict(
        app_no="SB" + _tag().upper(),
        channel="mbank",
        channel_request_id="SBREQ" + _tag(),
        offer_id=offer.id,
        customer_id=offer.customer_id,
        product_id=offer.product_id,
        branch_id=offer.branch_id,
        institution_id=offer.institution_id,
        amount=Decimal("20000.00"),
        offer_limit=offer.limit_amount,
        rate=offer.rate,
        auth_ref="ZXSQ" + _tag(),
        auth_version="2026.1",
        auth_signed_at=now,
        contract_ref="HT" + _tag(),
        contract_hash="0" * 64,
        device=None,
        submitted_at=now,
    )
    manager = user_id("manager1")
    drawn = None
    with statement_batch.collect(s) as batch:
        if batch is not None:
            drawn = s.scalar(select(func.nextval(func.pg_get_serial_sequence("application", "id"))))
            batch.give_ids("application", [drawn])
        result = lifecycle.open_application(
            s, values, lifecycle.CHANNEL_ACTOR, manager, manager_phone=None, reason="测试"
        )
    if batch is not None:
        assert result.application_id == drawn and batch.take_id("application") is None
    s.commit()
    s.expire_all()
    app_row = s.scalar(select(Application).where(Application.app_no == values["app_no"]))
    assert app_row.id == result.application_id and app_row.state == "assigned"
    assert [e.to_state for e in lifecycle.history(s, app_row.id)] == ["submitted", "assigned"]
