"""The signed channel API: the full path through real signed requests, idempotency, and
every bad input refused with a stable code and a Chinese message, nothing stored."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from sqlalchemy import func, select

from models.applications import Application, ApplicationEvent, ChannelKey, ChannelRequest
from models.background import OutboxItem
from models.integrations import CreditAuthorization
from models.sms.messages import SmsMessage
from models.whitelist import BlacklistEntry, Offer
from portal.channel import keys as channel_keys
from tests.support.applications import ChannelClient, channel_key, fresh_offer, submit_body, user_id


@pytest.fixture()
def api(app, db, templates):
    key_id, secret = channel_key()
    return ChannelClient(app.test_client(), key_id, secret)


def _counts(db) -> tuple:
    s = db.session
    out = tuple(
        s.scalar(select(func.count()).select_from(m))
        for m in (Application, ApplicationEvent, ChannelRequest, OutboxItem, SmsMessage)
    )
    s.rollback()
    return out


def test_full_path_lookup_submit_status_withdraw(api, db):
    offer = fresh_offer()
    body = submit_body(offer)
    lookup = api.call(
        "POST", "/offers/lookup", {"id_number": body["id_number"], "mobile": body["mobile"]}
    )
    assert lookup.status_code == 200, lookup.get_json()
    assert [o["offer_id"] for o in lookup.get_json()["offers"]] == [offer.id]

    resp = api.call("POST", "/applications", body)
    assert resp.status_code == 201, resp.get_json()
    data = resp.get_json()["application"]
    assert data["status"] == "processing"
    db.session.expire_all()
    app = db.session.scalar(select(Application).where(Application.app_no == data["app_no"]))
    assert app.state == "assigned" and app.manager_id == user_id("manager1")  # own manager
    assert db.session.get(Offer, offer.id).status == "applied"  # through the offer service
    assert db.session.scalar(
        select(CreditAuthorization).where(
            CreditAuthorization.authorization_no == body["authorization"]["ref"]
        )
    )
    # the submission's status is in its response: no push for it; the manager's SMS only
    pushes = db.session.scalars(
        select(OutboxItem.id).where(
            OutboxItem.kind == "mbank.application_status", OutboxItem.ref_id == app.id
        )
    ).all()
    assert pushes == []
    assert (
        db.session.scalar(
            select(OutboxItem.kind).where(OutboxItem.idempotency_key.like(f"sms:assign:{app.id}:%"))
        )
        == "sms.send"
    )
    assert data["status_label"] == "已受理，客户经理处理中"
    sms = db.session.scalar(select(SmsMessage).order_by(SmsMessage.id.desc()))
    assert sms.mobile and "新的消费易申请" in sms.content and sms.category == "notice"
    events = [
        (e.action, e.from_state, e.to_state, e.version, e.actor_kind, e.reason, e.at)
        for e in db.session.scalars(
            select(ApplicationEvent)
            .where(ApplicationEvent.application_id == app.id)
            .order_by(ApplicationEvent.id)
        )
    ]
    at = app.submitted_at
    assert events == [
        ("submit", None, "submitted", 1, "channel", "mbank 渠道提交", at),
        ("assign", "submitted", "assigned", 2, "system", "自动分派", at),
    ]
    assert (app.state, app.version) == ("assigned", 2)

    status = api.call("GET", f"/applications/{data['app_no']}")
    assert status.status_code == 200
    assert [p["status"] for p in status.get_json()["application"]["progress"]] == ["processing"]

    wd = api.call(
        "POST", f"/applications/{data['app_no']}/withdraw", {"request_id": "WD" + data["app_no"]}
    )
    assert wd.status_code == 200, wd.get_json()
    db.session.expire_all()
    assert db.session.get(Application, app.id).state == "withdrawn"
    pushed = db.session.scalars(
        select(OutboxItem.payload).where(
            OutboxItem.ref_id == app.id, OutboxItem.kind == "mbank.application_status"
        )
    ).all()
    assert [(p["status"], p["version"]) for p in pushed] == [("withdrawn", 3)]  # the change
    again = api.call(
        "POST", f"/applications/{data['app_no']}/withdraw", {"request_id": "WD2" + data["app_no"]}
    )
    assert again.status_code == 409 and again.get_json()["code"] == "ILLEGAL_TRANSITION"


def test_repeated_request_id_returns_first_response_and_creates_nothing(api, db):
    offer = fresh_offer()
    body = submit_body(offer)
    first = api.call("POST", "/applications", body)
    assert first.status_code == 201
    before = _counts(db)
    for _ in range(3):
        again = api.call("POST", "/applications", body)  # fresh nonce, same request id
        assert again.status_code == 201
        assert again.get_json() == first.get_json()
    assert _counts(db) == before


def _bad_cases():
    """(name, how to break the request, expected status, expected code)."""
    return [
        ("bad_json", "raw", 400, "BAD_JSON"),
        ("not_object", "list", 400, "BAD_JSON"),
        ("bad_signature", "sig", 401, "AUTH_BAD_SIGNATURE"),
        ("stale_timestamp", "stale", 401, "AUTH_STALE_TIMESTAMP"),
        ("missing_headers", "nohdr", 401, "AUTH_MISSING"),
        ("unknown_key", "key", 401, "AUTH_BAD_KEY"),
        ("revoked_key", "revoked", 401, "AUTH_BAD_KEY"),
        ("replayed_nonce", "replay", 401, "AUTH_REPLAY"),
        ("unknown_offer", "offer", 404, "OFFER_NOT_FOUND"),
        ("someone_elses_offer", "other", 404, "OFFER_NOT_FOUND"),
        ("expired_offer", "expired", 422, "OFFER_EXPIRED"),
        ("revoked_offer", "revoked_offer", 422, "OFFER_REVOKED"),
        ("amount_over_limit", "amount", 422, "AMOUNT_OVER_LIMIT"),
        ("negative_amount", "neg", 400, "INVALID_FIELD"),
        ("blacklisted", "black", 422, "CUSTOMER_BLACKLISTED"),
        ("missing_authorization", "noauth", 422, "AUTHORIZATION_MISSING"),
        ("old_authorization", "oldauth", 422, "AUTHORIZATION_INVALID"),
        ("year_one_authorization", "year1", 422, "AUTHORIZATION_INVALID"),
        ("bad_id_number", "idno", 400, "INVALID_FIELD"),
        ("bad_mobile", "mobile", 400, "INVALID_FIELD"),
        ("device_control_character", "device", 400, "INVALID_FIELD"),
        ("bad_id_number_unknown_offer", "idno_offer", 400, "INVALID_FIELD"),
        ("missing_contract", "nocontract", 400, "MISSING_FIELD"),
    ]


@pytest.mark.parametrize("name,how,status,code", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_input_refused_nothing_stored(api, db, name, how, status, code):
    offer = fresh_offer(limit="30000")
    body = submit_body(offer)
    over: dict = {}
    raw = None
    if how == "raw":
        raw = b'{"request_id": "x", '
    elif how == "list":
        raw = b"[1, 2]"
    elif how == "sig":
        over["X-Signature"] = "0" * 64
    elif how == "stale":
        over["timestamp"] = int(time.time()) - 3600
    elif how == "key":
        api = ChannelClient(api.client, "ck_unknown", api.secret)
    elif how == "revoked":
        key = db.session.scalar(select(ChannelKey).where(ChannelKey.key_id == api.key_id))
        channel_keys.revoke(db.session, key)
        db.session.commit()
    elif how == "replay":
        over["nonce"] = "fixed-nonce-" + body["request_id"]
        first = api.call("GET", "/applications/NOPE", **over)
        assert first.status_code == 404
    elif how == "offer":
        body["offer_id"] = 2_000_000_000
    elif how == "other":
        body["mobile"] = "13900000000" if body["mobile"] != "13900000000" else "13900000001"
    elif how in ("expired", "revoked_offer"):
        o = db.session.get(Offer, offer.id)
        if how == "expired":
            o.expiry_date = dt.date.today() - dt.timedelta(days=1)
        else:
            o.status = "revoked"
        db.session.commit()
    elif how == "amount":
        body["amount"] = "30000.01"
    elif how == "neg":
        body["amount"] = "-5"
    elif how == "black":
        db.session.add(BlacklistEntry(id_number=body["id_number"], reason="测试", source="risk"))
        db.session.commit()
    elif how == "noauth":
        del body["authorization"]
    elif how == "oldauth":
        body["authorization"]["signed_at"] = (dt.datetime.now() - dt.timedelta(days=60)).isoformat()
    elif how == "year1":  # valid RFC 3339, but out of any clock's range once made local
        body["authorization"]["signed_at"] = "0001-01-01T00:00:00+23:59"
    elif how in ("idno", "idno_offer"):
        body["id_number"] = body["id_number"][:17] + ("0" if body["id_number"][17] != "0" else "1")
        if how == "idno_offer":  # the format is refused even when no offer matches either
            body["offer_id"] = 2_000_000_000
    elif how == "mobile":
        body["mobile"] = "1234"
    elif how == "device":
        body["device"]["os"] = "Android\x00 14"
    elif how == "nocontract":
        del body["contract"]
    before = _counts(db)
    if how == "nohdr":
        resp = api.client.post(
            "/api/channel/v1/applications",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
    else:
        resp = api.call("POST", "/applications", body if raw is None else None, raw=raw, **over)
    assert resp.status_code == status, resp.get_json()
    data = resp.get_json()
    assert data["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in data["message"]), data  # Chinese
    assert _counts(db) == before
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status in ("active", "expired", "revoked")


def test_identity_as_typed_on_a_phone_still_matches_the_customer(api, db):
    """The ID number and mobile are compared with the customer on file first; a value that
    differs is validated and normalised (full-width digits, +86, spaces) and
    compared again — so what a phone keyboard sends is accepted as before."""
    from models.customers import Customer

    offer = fresh_offer()
    customer = db.session.get(Customer, offer.customer_id)
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in customer.id_number)
    body = submit_body(offer, id_number=wide, mobile="+86 " + customer.mobile)
    resp = api.call("POST", "/applications", body)
    assert resp.status_code == 201, resp.get_json()
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == "applied"


def test_institution_bound_key_sees_only_its_bank(app, db, templates):
    from tests.support.applications import org_id

    key_id, secret = channel_key(org_id("I02"))
    api = ChannelClient(app.test_client(), key_id, secret)
    resp = api.call("POST", "/applications", submit_body(fresh_offer("I01B01")))
    assert resp.status_code == 404 and resp.get_json()["code"] == "OFFER_NOT_FOUND"


def test_openapi_spec_served(app):
    resp = app.test_client().get("/api/channel/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.")
    assert {
        "/offers/lookup",
        "/applications",
        "/applications/{app_no}",
        "/applications/{app_no}/withdraw",
    } <= set(spec["paths"])


def test_channel_api_post_needs_no_csrf_token(app, db, templates):
    """The blueprint is CSRF-exempt (HMAC-signed, no cookies), even with CSRF switched on."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        key_id, secret = channel_key()
        api = ChannelClient(app.test_client(), key_id, secret)
        resp = api.call("POST", "/applications", submit_body(fresh_offer()))
        assert resp.status_code == 201, resp.get_json()
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_concurrent_submits_on_one_offer_create_one_application(app, api, db):
    """Eight different requests for the same offer at once (a double tap on two phones): the
    offer's row lock lets exactly one through; the others are told it is already applied."""
    import threading

    from models.whitelist import OfferHistory

    offer = fresh_offer()
    bodies = [submit_body(offer) for _ in range(8)]
    before = (offer.status, offer.version)
    db.session.commit()
    barrier = threading.Barrier(len(bodies))
    answers: list[tuple[int, str]] = []

    def one(body):
        client = ChannelClient(app.test_client(), api.key_id, api.secret)
        barrier.wait()
        resp = client.call("POST", "/applications", body)
        answers.append((resp.status_code, resp.get_json()["code"]))

    threads = [threading.Thread(target=one, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [(201, "OK")] + [(409, "OFFER_ALREADY_APPLIED")] * 7
    db.session.expire_all()
    assert (
        db.session.scalar(
            select(func.count()).select_from(Application).where(Application.offer_id == offer.id)
        )
        == 1
    )
    applied = db.session.scalars(
        select(OfferHistory.event).where(OfferHistory.offer_id == offer.id)
    ).all()
    assert applied.count("applied") == 1
    # the offer moved once, and its history row says from what, to what, at which version
    hist = db.session.scalars(
        select(OfferHistory).where(
            OfferHistory.offer_id == offer.id, OfferHistory.event == "applied"
        )
    ).one()
    now = db.session.get(Offer, offer.id)
    assert (now.status, now.version) == ("applied", before[1] + 1)
    assert now.applied_at is not None
    assert (hist.version, hist.old_status, hist.new_status, hist.at) == (
        now.version,
        before[0],
        "applied",
        now.updated_at,
    )


# --- idempotency: a request id names one request ---------------------------------------------


def _refused_reuse(resp) -> None:
    assert resp.status_code == 422, resp.get_json()
    data = resp.get_json()
    assert data["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert "request_id" in data["message"] and "流水号" in data["message"]


def test_request_id_reused_for_a_different_request_is_refused(api, db):
    """The same request again (keys in another order, other spacing) gets the first answer;
    the same request id with another body — a changed amount, another offer that would be
    accepted — or on another endpoint is refused with 422 IDEMPOTENCY_KEY_REUSED, and nothing
    is created or changed."""
    offer = fresh_offer()
    body = submit_body(offer)
    first = api.call("POST", "/applications", body)
    assert first.status_code == 201, first.get_json()
    app_no = first.get_json()["application"]["app_no"]
    before = _counts(db)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2, ensure_ascii=False)
    same = api.call("POST", "/applications", raw=reordered.encode())
    assert same.status_code == 201 and same.get_json() == first.get_json()

    _refused_reuse(api.call("POST", "/applications", {**body, "amount": "19999.00"}))
    other = fresh_offer()
    _refused_reuse(
        api.call("POST", "/applications", submit_body(other, request_id=body["request_id"]))
    )
    _refused_reuse(
        api.call("POST", f"/applications/{app_no}/withdraw", {"request_id": body["request_id"]})
    )
    assert _counts(db) == before
    db.session.expire_all()
    assert db.session.get(Offer, other.id).status == "active"
    assert db.session.scalar(select(Application.state).where(Application.app_no == app_no)) == (
        "assigned"
    )


def test_withdraw_request_id_names_one_withdrawal(api, db):
    first_app = api.call("POST", "/applications", submit_body(fresh_offer()))
    second_app = api.call("POST", "/applications", submit_body(fresh_offer()))
    one, two = (r.get_json()["application"]["app_no"] for r in (first_app, second_app))
    wd = {"request_id": "WD" + one, "reason": "不需要了"}
    first = api.call("POST", f"/applications/{one}/withdraw", wd)
    assert first.status_code == 200, first.get_json()
    again = api.call("POST", f"/applications/{one}/withdraw", wd)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    _refused_reuse(api.call("POST", f"/applications/{one}/withdraw", {**wd, "reason": "改了"}))
    _refused_reuse(api.call("POST", f"/applications/{two}/withdraw", wd))  # another path
    db.session.expire_all()
    assert db.session.scalar(select(Application.state).where(Application.app_no == two)) == (
        "assigned"
    )


def test_idempotency_record_keeps_the_request_fingerprint(api, db):
    """Both write paths (PostgreSQL's one statement, the plain inserts) store the fingerprint
    of the canonical body with the first answer."""
    from portal.channel.request_bodies import fingerprint

    body = submit_body(fresh_offer())
    assert api.call("POST", "/applications", body).status_code == 201
    stored = db.session.scalar(
        select(ChannelRequest.body_hash).where(ChannelRequest.request_id == body["request_id"])
    )
    assert stored == fingerprint(body, "submit") and len(stored) == 64


# --- text under the portal's one input policy (portal/core/text_input.py) -------------------------


def test_channel_text_loses_invisible_characters_and_refuses_control_characters(api, db):
    from models.customers import Customer

    offer = fresh_offer()
    customer = db.session.get(Customer, offer.customer_id)
    number = customer.id_number[:6] + "\u200b" + customer.id_number[6:] + "\ufeff"
    lookup = api.call("POST", "/offers/lookup", {"id_number": number, "mobile": customer.mobile})
    assert lookup.status_code == 200, lookup.get_json()
    assert [o["offer_id"] for o in lookup.get_json()["offers"]] == [offer.id]

    for broken in ({"id_number": number + "\x07"}, {"request_id": "REQ\x00X"}):
        before = _counts(db)
        resp = api.call("POST", "/applications", submit_body(offer, **broken))
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["code"] == "INVALID_FIELD"
        assert "控制字符" in resp.get_json()["message"]
        assert _counts(db) == before

    body = submit_body(offer, id_number=number, mobile="\u2060" + customer.mobile)
    resp = api.call("POST", "/applications", body)
    assert resp.status_code == 201, resp.get_json()
    app_no = resp.get_json()["application"]["app_no"]
    path = f"/applications/{app_no}/withdraw"
    refused = api.call("POST", path, {"request_id": "WDX" + app_no, "reason": "不\x1b[31m要"})
    assert refused.status_code == 400 and refused.get_json()["code"] == "INVALID_FIELD"
    wd = api.call("POST", path, {"request_id": "WD" + app_no, "reason": "客户\u200b不需要了\u202e"})
    assert wd.status_code == 200, wd.get_json()
    db.session.expire_all()
    reasons = db.session.scalars(
        select(ApplicationEvent.reason)
        .join(Application, Application.id == ApplicationEvent.application_id)
        .where(Application.app_no == app_no, ApplicationEvent.action == "withdraw")
    ).all()
    assert reasons == ["客户不需要了"]
