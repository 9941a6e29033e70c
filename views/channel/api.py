"""The signed channel API for mobile banking (`/api/channel/v1`), a plain Flask blueprint.

It carries no cookies (HMAC-signed per request), so it is exempt from CSRF; every
error is JSON ``{"code": STABLE_CODE, "message": 中文}``. The service calls live in
portal/channel/intake.py; this module only verifies, parses and answers.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from portal.background import outbox
from portal.channel import intake
from portal.channel import status as intake_status
from portal.channel.errors import PREFIX, http_error, json_error
from portal.channel.keys import AuthError, verify
from portal.channel.openapi import spec
from portal.channel.request_bodies import ChannelError
from portal.core.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("channel_api", __name__, url_prefix=PREFIX)


def _signed():
    """Verify the request's signature; returns (key, parsed JSON body or None).

    In this order: the body's size (413, before anything reads it), the signature (401),
    the body's media type (415: JSON only), the JSON itself (400)."""
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
    if request.mimetype != "application/json":
        raise ChannelError(
            415, "UNSUPPORTED_MEDIA_TYPE", "请求体须为 JSON（Content-Type: application/json）"
        )
    try:
        return key, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ChannelError(400, "BAD_JSON", "请求体不是合法的 JSON（UTF-8）") from None


@bp.errorhandler(AuthError)
def _auth_error(exc: AuthError):
    db.session.rollback()
    log.info("channel auth refused: %s", exc.code)  # never the body: it holds personal data
    return json_error(401, exc.code, exc.message)


@bp.errorhandler(ChannelError)
def _channel_error(exc: ChannelError):
    db.session.rollback()
    return json_error(exc.status, exc.code, exc.message)


# HTTP errors raised inside the API's views; routing errors (unknown path, wrong method) come
# before any blueprint is chosen: the app's handlers send them to the same function
bp.register_error_handler(HTTPException, http_error)


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
    from portal.core.extensions import csrf

    app.register_blueprint(bp)
    csrf.exempt(bp)  # HMAC-signed, no cookies: CSRF does not apply
