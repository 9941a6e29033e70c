"""The signed channel API for mobile banking (`/api/channel/v1`), a plain Flask blueprint.

It carries no cookies (HMAC-signed per request), so it is exempt from CSRF; every
error is JSON ``{"code": STABLE_CODE, "message": 中文}``. The service calls live in
portal/intake.py; this module only verifies, parses and answers.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request

from portal import intake, intake_status, outbox
from portal.channel_keys import AuthError, verify
from portal.channel_openapi import spec
from portal.extensions import db
from portal.intake_input import ChannelError

log = logging.getLogger(__name__)
bp = Blueprint("channel_api", __name__, url_prefix="/api/channel/v1")


def _error(status: int, code: str, message: str):
    resp = jsonify({"code": code, "message": message})
    resp.status_code = status
    return resp


def _signed():
    """Verify the request's signature; returns (key, parsed JSON body or None)."""
    limit = current_app.config["CHANNEL_MAX_BODY"]
    if (request.content_length or 0) > limit:
        raise ChannelError(413, "BODY_TOO_LARGE", f"请求体超过 {limit} 字节")
    raw = request.get_data(cache=True)
    if len(raw) > limit:
        raise ChannelError(413, "BODY_TOO_LARGE", f"请求体超过 {limit} 字节")
    redis = current_app.extensions["redis"]
    key = verify(db.session, redis, request.method, request.path, request.headers, raw)
    if request.method == "GET":
        return key, None
    try:
        return key, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ChannelError(400, "BAD_JSON", "请求体不是合法的 JSON（UTF-8）") from None


@bp.errorhandler(AuthError)
def _auth_error(exc: AuthError):
    db.session.rollback()
    log.info("channel auth refused: %s", exc.code)  # never the body: it holds personal data
    return _error(401, exc.code, exc.message)


@bp.errorhandler(ChannelError)
def _channel_error(exc: ChannelError):
    db.session.rollback()
    return _error(exc.status, exc.code, exc.message)


@bp.errorhandler(404)
def _not_found(_exc):
    return _error(404, "NOT_FOUND", "接口不存在")


@bp.errorhandler(405)
def _bad_method(_exc):
    return _error(405, "METHOD_NOT_ALLOWED", "不支持该请求方法")


@bp.post("/offers/lookup")
def lookup_offers():
    key, body = _signed()
    return jsonify(intake_status.lookup_offers(db.session, key, body))


@bp.post("/applications")
def submit_application():
    key, body = _signed()
    status, answer = intake.submit(db.session, key, body)
    if status == 201:
        outbox.kick()
    resp = jsonify(answer)
    resp.status_code = status
    return resp


@bp.get("/applications/<app_no>")
def application_status(app_no: str):
    key, _ = _signed()
    return jsonify(intake_status.status(db.session, key, app_no))


@bp.post("/applications/<app_no>/withdraw")
def withdraw_application(app_no: str):
    key, body = _signed()
    status, answer = intake_status.withdraw(db.session, key, app_no, body)
    outbox.kick()
    resp = jsonify(answer)
    resp.status_code = status
    return resp


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec(request.host_url.rstrip("/")))


def init_channel_api(app) -> None:
    from portal.extensions import csrf

    app.register_blueprint(bp)
    csrf.exempt(bp)  # HMAC-signed, no cookies: CSRF does not apply
