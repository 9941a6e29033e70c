"""Summary tables equal a direct recount of the raw rows after random activity, refreshed
incrementally (several refreshes, backdated history, reassignment, SMS, offers) and rebuilt."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from models.applications import Application, ApplicationEvent
from models.reports import AggDaily, AggOffer, AggOpen
from models.sms.messages import SmsMessage
from models.whitelist import Offer
from portal.applications import lifecycle
from portal.applications.lifecycle import SYSTEM_ACTOR, Actor
from portal.reports import aggregates
from tests.support.applications import fresh_offer, make_application, user_id

PATHS = [
    ["assign", "start_review", "pass", "submit_approval", "approve", "disburse", "disbursed"],
    ["assign", "start_review", "pass", "submit_approval", "approval_reject"],
    ["assign", "start_review", "request_info", "info_received", "reject"],
    ["assign", "start_review", "pass", "submit_approval"],
    ["assign", "start_review"],
    ["assign", "reassign"],
    [],
]


def _actor(action: str, manager: str) -> Actor:
    if action in ("start_review", "request_info", "info_received", "pass", "reject"):
        return Actor(user_id(manager), frozenset({"account_manager"}))
    if action in ("approve", "approval_reject"):
        return Actor(user_id("approver1"), frozenset({"approver"}))
    return SYSTEM_ACTOR


def _submitted(db, rng: random.Random, branch: str, manager: str) -> int:
    app_id = make_application("submitted", manager=None, branch=branch)
    now = dt.datetime.now()
    db.session.execute(
        update(Application)
        .where(Application.id == app_id)
        .values(amount=Decimal(rng.choice(["10000", "20000", "35000"])))
    )
    db.session.add(
        ApplicationEvent(
            application_id=app_id,
            action="submit",
            to_state="submitted",
            version=1,
            actor_kind="channel",
            at=now,
        )
    )
    db.session.commit()
    return app_id


def _walk(db, rng, app_id: int, path: list[str], manager: str, other: str) -> None:
    for action in path:
        changes = None
        if action in ("assign", "reassign"):
            changes = {"manager_id": user_id(other if action == "reassign" else manager)}
        reason = "测试原因" if action in ("request_info", "reject", "approval_reject") else None
        code = "other" if action in ("reject", "approval_reject") else None
        lifecycle.transition(
            app_id, action, _actor(action, manager), reason, reason_code=code, changes=changes
        )
        if action == "reassign":
            manager = other


def _backdate(db, app_id: int, days: int, rng: random.Random) -> None:
    """Spread a history over the past: each step some minutes after the previous one."""
    events = db.session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == app_id)
        .order_by(ApplicationEvent.version)
    ).all()
    start = dt.datetime.now() - dt.timedelta(days=days, hours=rng.randrange(1, 8))
    at = start
    for e in events:
        e.at = at
        at += dt.timedelta(minutes=rng.choice([1, 3, 9, 14, 40, 300]))
    db.session.execute(
        update(Application).where(Application.id == app_id).values(submitted_at=start)
    )
    db.session.commit()


def _activity(db, rng, n: int, backdate: bool) -> list[int]:
    ids = []
    for _ in range(n):
        branch, manager, other = rng.choice(
            [("I01B01", "manager1", "manager2"), ("I01B02", "i01b02_am1", "i01b02_am2")]
        )
        app_id = _submitted(db, rng, branch, manager)
        _walk(db, rng, app_id, rng.choice(PATHS), manager, other)
        if backdate:
            _backdate(db, app_id, rng.randrange(1, 20), rng)
        ids.append(app_id)
    return ids


def _continue(db, rng, ids: list[int]) -> None:
    """Move applications with a backdated history on today (their old days are recomputed)."""
    from models.access.staff import StaffUser

    for app_id in ids:
        a = db.session.get(Application, app_id)
        if a.state == "under_review":
            owner = db.session.get(StaffUser, a.manager_id).username
            _walk(db, rng, app_id, ["pass", "submit_approval", "approve"], owner, owner)


def _sms(db, rng, n: int) -> None:
    offers = db.session.scalars(select(Offer).limit(50)).all()
    for _ in range(n):
        o = rng.choice(offers)
        db.session.add(
            SmsMessage(
                customer_id=o.customer_id,
                mobile="13800000000",
                category="marketing",
                content="营销短信",
                state="sent",
                institution_id=o.institution_id,
                branch_id=o.branch_id,
                sent_at=dt.datetime.now(),
            )
        )
    db.session.commit()


def _recount(db) -> dict:
    """Metrics recounted in Python from the raw rows, keyed like grain-m summary rows."""
    apps = {a.id: a for a in db.session.scalars(select(Application))}
    events = db.session.scalars(select(ApplicationEvent)).all()
    by_version = {(e.application_id, e.version): e for e in events}
    out: dict = defaultdict(lambda: [0, 0.0])

    def add(e, metric, total=0.0):
        a = apps[e.application_id]
        key = (e.at.date(), a.institution_id, a.branch_id, a.manager_id, metric)
        out[key][0] += 1
        out[key][1] += float(total)

    for e in events:
        a = apps[e.application_id]
        if e.action == "submit":
            add(e, "submitted", a.amount)
        if e.action == "approve":
            add(e, "approved", a.amount)
        if e.action == "disbursed":
            add(e, "active", a.amount)
        if e.to_state == "rejected" and e.from_state != "rejected":
            add(e, "rejected")
        if e.action in ("approve", "approval_reject", "reject"):
            secs = (e.at - a.submitted_at).total_seconds()
            add(e, "decided", secs)
            if secs <= 900:
                add(e, "decided_15")
        prev = by_version.get((e.application_id, e.version - 1))
        if e.from_state and prev is not None:
            add(e, "t:" + e.from_state, (e.at - prev.at).total_seconds())
    for s in db.session.scalars(select(SmsMessage).where(SmsMessage.category == "marketing")):
        if s.sent_at and s.institution_id and s.branch_id:
            from models.customers import Customer

            c = db.session.get(Customer, s.customer_id)
            key = (s.sent_at.date(), s.institution_id, s.branch_id, c.manager_id, "sms_sent")
            out[key][0] += 1
    return out


def _summary(db, grain: str) -> dict:
    rows = db.session.scalars(select(AggDaily).where(AggDaily.grain == grain)).all()
    return {
        (r.day, r.institution_id, r.branch_id, r.manager_id, r.metric): [r.n, float(r.total)]
        for r in rows
    }


def _assert_equal(db) -> None:
    expected = _recount(db)
    got = _summary(db, "m")
    assert set(got) == set(expected)
    for key, (n, total) in expected.items():
        assert got[key][0] == n, key
        assert abs(got[key][1] - total) <= 0.01 * max(n, 1) + 1e-6, key
    # roll-ups: branch and institution rows are sums of manager rows
    for grain in ("b", "i"):
        rolled: dict = defaultdict(lambda: [0, 0.0])
        for key, (n, total) in got.items():
            k = (key[0], key[1], key[2] if grain == "b" else None, None, key[4])
            rolled[k][0] += n
            rolled[k][1] += total
        summary = _summary(db, grain)
        assert {k: v[0] for k, v in summary.items()} == {k: v[0] for k, v in rolled.items()}
    offers = defaultdict(int)
    for o in db.session.scalars(select(Offer)):
        offers[(o.branch_id, o.manager_id, o.status)] += 1
    assert {
        (r.branch_id, r.manager_id, r.status): r.n for r in db.session.scalars(select(AggOffer))
    } == dict(offers)
    open_apps = defaultdict(int)
    for a in db.session.scalars(select(Application)):
        if a.state not in ("active", "rejected", "withdrawn", "expired"):
            open_apps[(a.branch_id, a.manager_id, a.state)] += 1
    got_open = defaultdict(int)
    for r in db.session.scalars(select(AggOpen)):
        got_open[(r.branch_id, r.manager_id, r.state)] += r.n
    assert got_open == open_apps


@pytest.fixture(autouse=True)
def templates(db):
    from portal.sms.standard_templates import seed_templates

    seed_templates()


def test_aggregates_equal_a_recount_after_random_activity(db):
    rng = random.Random(7)
    history = _activity(db, rng, 12, backdate=True)  # history over the past weeks
    aggregates.rebuild(db.session)
    _assert_equal(db)
    # more activity on new and existing applications, SMS and offers; two refreshes
    _continue(db, rng, history)
    _activity(db, rng, 10, backdate=False)
    _sms(db, rng, 7)
    fresh_offer("I01B02", "i01b02_am1")
    aggregates.refresh(db.session)
    aggregates.refresh(db.session)  # idempotent: a second refresh changes nothing
    _assert_equal(db)
    before = _summary(db, "m")
    aggregates.rebuild(db.session)
    assert _summary(db, "m") == before


def test_refresh_moves_reassigned_work_to_the_new_manager(db):
    rng = random.Random(11)
    aggregates.rebuild(db.session)
    app_id = _submitted(db, rng, "I01B01", "manager1")
    _walk(db, rng, app_id, ["assign"], "manager1", "manager2")
    aggregates.refresh(db.session)
    _walk(db, rng, app_id, ["reassign"], "manager1", "manager2")
    aggregates.refresh(db.session)
    _assert_equal(db)
