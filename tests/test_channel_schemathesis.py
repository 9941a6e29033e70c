"""Schemathesis against the served OpenAPI spec of the channel API: generated bodies and
path parameters (valid by the schema and deliberately invalid), each request properly
signed so it reaches validation and the business rules: 0 server errors."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from portal.channel_openapi import spec
from tests.app_factories import channel_key, signed_headers

schema = schemathesis.openapi.from_dict(spec("http://localhost"))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
SERVER_ERRORS: list[str] = []


@pytest.fixture(scope="module")
def signer(app):
    from portal.extensions import db

    with app.app_context():
        key_id, secret = channel_key()
        db.session.remove()
    return key_id, secret


def test_served_spec_is_the_tested_one(app):
    served = app.test_client().get("/api/channel/v1/openapi.json").get_json()
    assert served["paths"] == spec()["paths"]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, app, signer):
    key_id, secret = signer
    path = "/api/channel/v1" + case.formatted_path
    if case.body is NOT_SET:
        body = b""
    elif isinstance(case.body, bytes):  # negative mode: raw, not even JSON
        body = case.body
    else:
        body = json.dumps(case.body, ensure_ascii=False, default=str).encode()
    headers = signed_headers(key_id, secret, case.method, path, body)
    resp = app.test_client().open(path, method=case.method, data=body, headers=headers)
    assert resp.status_code < 500, (case.method, path, body[:300], resp.get_data(as_text=True))
    if case.method in ("OPTIONS", "HEAD"):  # Flask's automatic answers, no body
        return
    payload = resp.get_json()
    assert payload is not None and "code" in payload, (
        case.method,
        resp.status_code,
        path,
        resp.get_data()[:300],
    )
    if resp.status_code >= 400:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in payload["message"]), payload
