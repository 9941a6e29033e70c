"""portal.channel_app: the channel API's own deployment — only `/api/channel/v1`, no
Flask-AppBuilder, JSON errors with stable codes and the API's no-cache / no-frame headers —
on the same database and Redis as the staff portal of the test session."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from models.applications import Application, ChannelRequest
from models.whitelist import Offer
from portal.channel_app import API_HEADERS, create_channel_app
from tests.support.applications import (
    ChannelClient,
    channel_key,
    fresh_offer,
    signed_headers,
    submit_body,
)

PREFIX = "/api/channel/v1"


def _config(app) -> dict:
    """The test app's database and Redis (TestingConfig alone would take TEST_DATABASE_URL
    or, on SQLite, an instance file of its own)."""
    return {
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
    }


@pytest.fixture(scope="module")
def lean(app):
    from portal.core.extensions import db

    channel = create_channel_app(_config(app))
    yield channel
    with channel.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture()
def api(lean, db, templates):
    key_id, secret = channel_key()
    return ChannelClient(lean.test_client(), key_id, secret)


def _api_headers(resp) -> None:
    for name, value in API_HEADERS.items():
        assert resp.headers.get(name) == value, (name, dict(resp.headers))
    assert resp.headers.get("Cache-Control") == "no-store"
    assert "Set-Cookie" not in resp.headers  # no login session, no CSRF cookie


def _json_error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/json"
    data = resp.get_json()
    assert data["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in data["message"]), data  # Chinese
    _api_headers(resp)
    return data


def _counts(db) -> tuple[int, int]:
    out = (
        db.session.scalar(select(func.count()).select_from(Application)),
        db.session.scalar(select(func.count()).select_from(ChannelRequest)),
    )
    db.session.rollback()
    return out


def test_the_lean_app_serves_only_the_channel_api(lean):
    assert "appbuilder" not in lean.extensions
    assert "channel_api" in lean.blueprints
    rules = {r.rule for r in lean.url_map.iter_rules() if r.endpoint != "static"}
    assert rules and all(rule.startswith(PREFIX + "/") for rule in rules), rules
    assert {
        PREFIX + "/offers/lookup",
        PREFIX + "/applications",
        PREFIX + "/applications/<app_no>",
        PREFIX + "/applications/<app_no>/withdraw",
        PREFIX + "/openapi.json",
    } <= rules


def test_unsigned_submit_is_refused_with_401_json(lean, db, templates):
    offer = fresh_offer()
    before = _counts(db)
    resp = lean.test_client().post(
        PREFIX + "/applications",
        data=json.dumps(submit_body(offer)),
        headers={"Content-Type": "application/json"},
    )
    _json_error(resp, 401, "AUTH_MISSING")
    assert _counts(db) == before
    db.session.expire_all()
    assert db.session.get(Offer, offer.id).status == "active"


@pytest.mark.parametrize(
    "path",
    [PREFIX + "/nope", PREFIX + "/applications/AP1/nope", "/", "/login/", "/workbench/"],
)
def test_unknown_paths_are_json_404(lean, path):
    """Unknown API paths, and the staff portal's pages, which this app does not serve."""
    _json_error(lean.test_client().get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", PREFIX + "/applications"),
        ("PUT", PREFIX + "/offers/lookup"),
        ("DELETE", PREFIX + "/openapi.json"),
        ("POST", PREFIX + "/applications/AP1"),
    ],
)
def test_wrong_method_is_json_405(lean, method, path):
    resp = lean.test_client().open(path, method=method)
    _json_error(resp, 405, "METHOD_NOT_ALLOWED")


def test_openapi_spec_served_with_api_headers(lean):
    resp = lean.test_client().get(PREFIX + "/openapi.json")
    assert resp.status_code == 200
    assert resp.get_json()["openapi"].startswith("3.")
    _api_headers(resp)


def test_internal_error_is_json_500_without_details(app):
    """An unexpected error: a JSON 500 with a stable code, the exception's text not shown."""
    boom_app = create_channel_app(_config(app))
    boom_app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("secret detail 110101199001011234")

    boom_app.add_url_rule(PREFIX + "/_boom", "boom", boom)
    try:
        resp = boom_app.test_client().get(PREFIX + "/_boom")
        data = _json_error(resp, 500, "INTERNAL_ERROR")
        assert "secret detail" not in resp.get_data(as_text=True)
        assert set(data) == {"code", "message"}
    finally:
        from portal.core.extensions import db

        with boom_app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_signed_submit_through_the_lean_app_is_on_file(api, app, db):
    """A signed submit through the lean app: 201, the application on file in the staff
    portal's database, the offer applied; status and a repeated request answer from it."""
    offer = fresh_offer()
    offer_id = offer.id
    body = submit_body(offer)
    before = _counts(db)
    resp = api.call("POST", "/applications", body)
    assert resp.status_code == 201, resp.get_json()
    _api_headers(resp)
    data = resp.get_json()
    assert data["code"] == "OK" and data["request_id"] == body["request_id"]
    app_no = data["application"]["app_no"]
    assert data["application"]["status"] == "processing"
    assert data["application"]["amount"] == "20000.00"

    assert _counts(db) == (before[0] + 1, before[1] + 1)
    db.session.expire_all()
    row = db.session.scalar(select(Application).where(Application.app_no == app_no))
    assert row is not None
    assert (row.offer_id, row.channel, row.channel_request_id) == (
        offer_id,
        "mbank",
        body["request_id"],
    )
    assert row.state == "assigned" and row.auth_ref == body["authorization"]["ref"]
    assert db.session.get(Offer, offer_id).status == "applied"
    db.session.rollback()

    status = api.call("GET", f"/applications/{app_no}")
    assert status.status_code == 200, status.get_json()
    assert status.get_json()["application"]["app_no"] == app_no
    _api_headers(status)

    again = api.call("POST", "/applications", body)  # same request id, fresh nonce
    assert again.status_code == 201 and again.get_json() == data
    assert _counts(db) == (before[0] + 1, before[1] + 1)

    # the staff portal's own deployment of the API reads the same database
    staff = ChannelClient(app.test_client(), api.key_id, api.secret)
    seen = staff.call("GET", f"/applications/{app_no}")
    assert seen.status_code == 200 and seen.get_json() == status.get_json()


def test_a_signed_submit_for_an_applied_offer_is_409(api, db):
    offer = fresh_offer()
    first = api.call("POST", "/applications", submit_body(offer))
    assert first.status_code == 201, first.get_json()
    second = api.call("POST", "/applications", submit_body(offer))  # a new request id
    _json_error(second, 409, "OFFER_ALREADY_APPLIED")


# --- the documented error shape for every HTTP-level refusal, on both deployments -----------


@pytest.fixture(params=["lean", "staff"])
def deployment(request, lean, app):
    """The channel API's own deployment and the staff portal, which serves the API too."""
    return lean if request.param == "lean" else app


def _shaped(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    assert resp.mimetype == "application/json"
    data = resp.get_json()
    assert set(data) == {"code", "message"} and data["code"] == code, data
    assert any("\u4e00" <= ch <= "\u9fff" for ch in data["message"]), data
    return data


@pytest.mark.parametrize(
    "method,path,allowed",
    [
        ("GET", "/applications", {"POST"}),
        ("PUT", "/offers/lookup", {"POST"}),
        ("DELETE", "/openapi.json", {"GET"}),
        ("POST", "/applications/AP1", {"GET"}),
        ("GET", "/applications/AP1/withdraw", {"POST"}),
    ],
)
def test_wrong_method_is_405_with_allow(deployment, method, path, allowed):
    resp = deployment.test_client().open(PREFIX + path, method=method)
    _shaped(resp, 405, "METHOD_NOT_ALLOWED")
    assert allowed <= {m.strip() for m in resp.headers["Allow"].split(",")}, resp.headers


@pytest.mark.parametrize("path", ["/nope", "/applications/AP1/nope", ""])
def test_unknown_api_path_is_404_in_the_api_shape(deployment, path):
    _shaped(deployment.test_client().get(PREFIX + path), 404, "NOT_FOUND")


def test_body_too_large_and_not_json_are_refused_in_the_api_shape(deployment, db, templates):
    key_id, secret = channel_key()
    api = ChannelClient(deployment.test_client(), key_id, secret)
    body = submit_body(fresh_offer())
    big = json.dumps({**body, "pad": "x" * deployment.config["CHANNEL_MAX_BODY"]}).encode()
    _shaped(api.call("POST", "/applications", raw=big), 413, "BODY_TOO_LARGE")
    data = json.dumps(body).encode()
    for media in ("text/plain", "application/x-www-form-urlencoded", None):
        over = {"Content-Type": media} if media else {}
        resp = api.call("POST", "/applications", raw=data, **over)
        if media is None:  # no Content-Type header at all
            path = PREFIX + "/applications"
            headers = signed_headers(key_id, secret, "POST", path, data)
            del headers["Content-Type"]
            resp = api.client.post(path, data=data, headers=headers)
        _shaped(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    _shaped(api.call("POST", "/applications", raw=b'{"request_id": '), 400, "BAD_JSON")
    ok = api.call(
        "POST", "/applications", raw=data, **{"Content-Type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 201, ok.get_json()


def test_staff_portal_internal_error_on_an_api_path_is_the_api_shape(app):
    """An unexpected error under /api/channel/v1 of the staff portal: the API's JSON 500 with
    its stable code, nothing of the exception shown."""
    from portal import create_app

    staff = create_app(_config(app))
    staff.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("secret detail 110101199001011234")

    staff.add_url_rule(PREFIX + "/_boom", "boom", boom)
    try:
        resp = staff.test_client().get(PREFIX + "/_boom")
        _shaped(resp, 500, "INTERNAL_ERROR")
        assert "secret detail" not in resp.get_data(as_text=True)
    finally:
        from portal.core.extensions import db

        with staff.app_context():
            db.session.remove()
            db.engine.dispose()
