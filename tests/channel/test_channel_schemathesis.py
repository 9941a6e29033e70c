"""Schemathesis against the served OpenAPI spec of the channel API: generated bodies and
path parameters (valid by the schema and deliberately invalid), each request properly
signed so it reaches validation and the business rules. The document and the server agree:

* 0 server errors;
* every answer's status is documented for its operation and its body matches the documented
  schema — an error's ``code`` is one of the stable codes listed for that status;
* a body the document allows is never refused as malformed (no 400): every rule the server
  checks on its own is declared (patterns, bounds, the GB 11643 and mobile-number formats);
* a body the document refuses is never accepted (no 2xx).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from portal.channel.openapi import spec
from portal.core.identity import IdentityError, normalize_mobile, parse_resident_id
from portal.demo.seed import make_id_number, make_mobile
from tests.support.applications import channel_key, signed_headers

DOCUMENT = spec("http://localhost")
# the two formats the document names beyond JSON Schema's: values as the server accepts them
schemathesis.openapi.format(
    "cn-resident-id",
    st.randoms(use_true_random=False).map(lambda rng: make_id_number(rng, "440103")[0]),
)
schemathesis.openapi.format(
    "cn-mobile", st.randoms(use_true_random=False).map(lambda rng: make_mobile(rng))
)
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


FORMATS = jsonschema.FormatChecker([])
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$", re.ASCII)


@FORMATS.checks("cn-resident-id", raises=IdentityError)
def _resident_id(value) -> bool:
    return not isinstance(value, str) or bool(parse_resident_id(value))


@FORMATS.checks("cn-mobile", raises=IdentityError)
def _mobile(value) -> bool:
    return not isinstance(value, str) or normalize_mobile(value) == value


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value) -> bool:
    if not isinstance(value, str):
        return True
    return bool(RFC3339.match(value)) and bool(dt.datetime.fromisoformat(value.upper()))


def _allowed(case, body: bytes) -> bool:
    """Whether the document allows the request's body — by its schema, formats included (the
    generator's boundary phase fills patterns without the formats: its 'valid' case may not
    be)."""
    op = DOCUMENT["paths"][case.operation.path].get(case.method.lower())
    if op is None or "requestBody" not in op:
        return op is not None
    try:
        value = json.loads(body)
    except ValueError:
        return False
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema.Draft7Validator(schema, format_checker=FORMATS).is_valid(value)


def _documented(method: str, path: str, status: int) -> dict:
    """The operation's documented answer for the status (its JSON schema, resolvable)."""
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path}: {status} is not documented"
    body = responses[str(status)]["content"]["application/json"]["schema"]
    return {**body, "components": DOCUMENT["components"]}


@pytest.fixture(scope="module")
def signer(app):
    from portal.core.extensions import db

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
    seen = (case.method, path, body[:300], resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.status_code < 500, seen
    if case.method in ("OPTIONS", "HEAD"):  # Flask's automatic answers, no body
        return
    payload = resp.get_json()
    assert payload is not None and "code" in payload, seen
    if resp.status_code >= 400:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in payload["message"]), payload
    if case.method.lower() not in DOCUMENT["paths"][case.operation.path]:  # an undocumented method
        assert (resp.status_code, payload["code"]) == (405, "METHOD_NOT_ALLOWED"), seen
        assert resp.headers["Allow"], seen
        return
    jsonschema.validate(payload, _documented(case.method, case.operation.path, resp.status_code))
    if _allowed(case, body):
        assert resp.status_code != 400, ("the document allows what the server refuses", seen)
    else:
        assert resp.status_code >= 400, ("the server accepts what the document refuses", seen)


@pytest.mark.parametrize(
    "amount",
    ["0", "0.00", "0.0", "0.001", "0.01", "0.10", "1", "1.5", "1.234", "-5", "20000.00"]
    + ["9999999.99", "10000000", "10000000.00", "10000000.01", "99999999", ""],
)
def test_amount_pattern_is_the_servers_rule(amount):
    """The document's amount and the server's rule agree on every canonical amount (the
    old pattern allowed "0" and amounts over 10 million, which the server refuses)."""
    from portal.channel.request_bodies import ChannelError
    from portal.channel.request_bodies import amount as parse

    props = DOCUMENT["paths"]["/applications"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["properties"]
    documented = jsonschema.Draft7Validator(props["amount"]).is_valid(amount)
    try:
        parse({"amount": amount})
        served = True
    except ChannelError:
        served = False
    assert documented == served
