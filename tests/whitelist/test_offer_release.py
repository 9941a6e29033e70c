"""A withdrawn or expired application gives its whitelist offer back (额度释放); a rejected
one does not. Tried through the real signed channel API (lookup → apply → withdraw →
lookup → apply again), the lifecycle engine and the end-of-day batch."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from models.access.staff import StaffUser
from models.applications import Application
from models.whitelist import EodRun, Offer, OfferHistory
from portal.applications import lifecycle
from portal.whitelist import offers
from tests.support.applications import (
    ChannelClient,
    channel_key,
    fresh_offer,
    make_application,
    submit_body,
)


@pytest.fixture()
def api(app, db, templates):
    key_id, secret = channel_key()
    return ChannelClient(app.test_client(), key_id, secret)


def _offer(db, offer_id: int) -> Offer:
    db.session.expire_all()
    return db.session.get(Offer, offer_id)


def _history(db, offer_id: int) -> list[OfferHistory]:
    return list(
        db.session.scalars(
            select(OfferHistory).where(OfferHistory.offer_id == offer_id).order_by(OfferHistory.id)
        )
    )


def _lookup_ids(api, body) -> list[int]:
    resp = api.call(
        "POST", "/offers/lookup", {"id_number": body["id_number"], "mobile": body["mobile"]}
    )
    if resp.status_code == 404:
        assert resp.get_json()["code"] == "OFFER_NOT_FOUND"
        return []
    assert resp.status_code == 200, resp.get_json()
    return [o["offer_id"] for o in resp.get_json()["offers"]]


def _set_applied(db, offer_id: int, **values) -> None:
    o = db.session.get(Offer, offer_id)
    o.status, o.applied_at = "applied", dt.datetime.now()
    for k, v in values.items():
        setattr(o, k, v)
    db.session.commit()


def test_withdrawn_application_releases_offer_and_customer_applies_again(api, db):
    offer = fresh_offer()
    body = submit_body(offer)
    assert _lookup_ids(api, body) == [offer.id]
    first = api.call("POST", "/applications", body)
    assert first.status_code == 201, first.get_json()
    app_no = first.get_json()["application"]["app_no"]
    assert _offer(db, offer.id).status == "applied"
    assert _lookup_ids(api, body) == []  # applied: not offered any more
    again = api.call("POST", "/applications", submit_body(offer))
    assert again.get_json()["code"] == "OFFER_ALREADY_APPLIED"

    wd = api.call("POST", f"/applications/{app_no}/withdraw", {"request_id": "WD" + app_no})
    assert wd.status_code == 200, wd.get_json()
    o = _offer(db, offer.id)
    assert o.status == "active" and o.applied_at is None
    released = _history(db, offer.id)[-1]
    assert released.event == "released"
    assert (released.old_status, released.new_status) == ("applied", "active")
    assert app_no in released.reason and "已撤回" in released.reason
    assert released.version == o.version  # the offer's version moved on (it syncs again)

    # the end-of-day batch that settles applied offers must not flip it back
    today = dt.date.today()
    db.session.execute(delete(EodRun).where(EodRun.business_date == today))
    db.session.commit()
    offers.end_of_day(db.session, today)
    assert _offer(db, offer.id).status == "active"

    assert _lookup_ids(api, body) == [offer.id]
    second = api.call("POST", "/applications", submit_body(offer))
    assert second.status_code == 201, second.get_json()
    second_no = second.get_json()["application"]["app_no"]
    assert second_no != app_no
    assert _offer(db, offer.id).status == "applied"
    states = dict(
        db.session.execute(
            select(Application.app_no, Application.state).where(Application.offer_id == offer.id)
        ).all()
    )
    assert states == {app_no: "withdrawn", second_no: "assigned"}


def test_refused_withdrawal_leaves_the_offer_applied(api, db):
    app_id = make_application("in_approval")
    app = db.session.get(Application, app_id)
    _set_applied(db, app.offer_id)
    wd = api.call(
        "POST", f"/applications/{app.app_no}/withdraw", {"request_id": "WDX" + app.app_no}
    )
    assert wd.status_code == 409 and wd.get_json()["code"] == "ILLEGAL_TRANSITION"
    assert _offer(db, app.offer_id).status == "applied"
    assert not [h for h in _history(db, app.offer_id) if h.event == "released"]


@pytest.mark.parametrize("past_validity", [False, True], ids=["valid", "past_validity"])
def test_expired_application_releases_offer(db, templates, past_validity):
    app_id = make_application("need_info")
    offer_id = db.session.get(Application, app_id).offer_id
    expiry = dt.date.today() + dt.timedelta(days=-1 if past_validity else 30)
    _set_applied(db, offer_id, expiry_date=expiry)
    result = lifecycle.transition(app_id, "expire", lifecycle.SYSTEM_ACTOR, "客户超时未补充资料")
    assert result.to_state == "expired"
    o = _offer(db, offer_id)
    assert o.status == ("expired" if past_validity else "active") and o.applied_at is None
    last = _history(db, offer_id)[-1]
    assert last.event == "released" and last.new_status == o.status and "已过期" in last.reason


def test_rejected_application_keeps_the_offer_applied(db, templates):
    app_id = make_application("under_review")
    offer_id = db.session.get(Application, app_id).offer_id
    _set_applied(db, offer_id)
    manager = db.session.scalar(select(StaffUser).where(StaffUser.username == "manager1"))
    actor = lifecycle.staff_actor(manager)
    lifecycle.transition(app_id, "reject", actor, "收入不足", reason_code="income_low")
    assert db.session.get(Application, app_id).state == "rejected"
    assert _offer(db, offer_id).status == "applied"
    assert not [h for h in _history(db, offer_id) if h.event == "released"]


def test_release_is_part_of_the_transition_transaction(db, templates):
    app_id = make_application("submitted")
    offer_id = db.session.get(Application, app_id).offer_id
    _set_applied(db, offer_id)
    lifecycle.transition(
        app_id, "withdraw", lifecycle.CHANNEL_ACTOR, "客户撤回", session=db.session, commit=False
    )
    assert _offer(db, offer_id).status == "active"  # same transaction: visible before commit
    db.session.rollback()
    assert _offer(db, offer_id).status == "applied"  # … and rolled back with it
    assert db.session.get(Application, app_id).state == "submitted"


def test_only_declared_withdraw_and_expire_release_offers():
    releasing = {k for k, r in lifecycle.TRANSITIONS.items() if r.releases_offer}
    assert releasing == {
        *((s, "withdraw") for s in lifecycle.WITHDRAWABLE),
        ("submitted", "expire"),
        ("need_info", "expire"),
    }
    assert all(lifecycle.TRANSITIONS[k].to in ("withdrawn", "expired") for k in releasing)
