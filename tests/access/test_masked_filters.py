"""Masked columns (脱敏字段) cannot be read back through list filters or sorting (issue 13, item 1).

Generated from the registered views (tests/support/list_views.py): every list view and REST API ×
every masked column (direct, or through a relationship) × every filter operation
Flask-AppBuilder offers for it, and × each sort direction, × every role of ROLE_USERS.

The no-leak check does not guess the refusal's form: the answer to a filter built from a
real record's value (a prefix, a suffix, a middle part, a partial value, the value in a
list) must be the same as the answer to the same filter built from a value nobody has. If
the rows depended on the hidden value, the two answers would differ. Without the
resource's ``can_unmask`` that is required of every operation but "equal" with the complete
value, which must find the record (however it is typed: spaces, +86) and write one audit
row that does not hold the value in clear. With ``can_unmask`` the filters work as before
and are audited too. Roles that cannot open a list get no list and leave no audit row.
"""

from __future__ import annotations

import datetime as dt
import json
import random

import prison
import pytest
from sqlalchemy import delete, func, select

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.sms.messages import SmsMessage
from models.whitelist import BlacklistEntry
from portal.core.extensions import db as _db
from portal.demo.seed import make_id_number, make_mobile
from tests.support.clients import ROLE_USERS
from tests.support.list_views import (
    DENIED,
    Clients,
    filter_ops,
    is_api,
    list_url,
    masked_columns_of,
    masked_paths,
    model_of,
    offered,
    registered,
    registered_list_views,
    row_ids,
    view_classes,
)

ROLES = list(ROLE_USERS)
DIRECTIONS = ("asc", "desc")
# operations whose answer holds the record when built from its real value (see _probe)
KEEPS_RECORD = {"sw", "ew", "ct", "neq", "in"}


def _cases():
    offered_ops, sorts, unoffered = [], [], []
    for cls in view_classes():
        for path in masked_paths(cls):
            for direction in DIRECTIONS:
                sorts.append((cls.__name__, path, direction))
            if offered(cls, path):
                offered_ops += [(cls.__name__, path, op) for op in filter_ops(model_of(cls), path)]
            else:
                unoffered.append((cls.__name__, path))
    return offered_ops, sorts, unoffered


OFFERED, SORTS, UNOFFERED = _cases()


def _ids(cases):
    return ["-".join(c) for c in cases]


# --- data: a few rows of every masked model for the roles that may list them ----------------


@pytest.fixture(scope="module")
def seeded(app):
    """Blacklist entries and SMS messages of bank I01 (none in the demo), and a few credit
    lines (so applications, offers and credit lines exist for the relationship sorts)."""
    from tests.support.credit import make_line

    rng = random.Random(13)
    with app.app_context():
        inst = _db.session.scalar(select(OrgUnit).where(OrgUnit.code == "I01"))
        branch = _db.session.scalar(select(OrgUnit).where(OrgUnit.code == "I01B01"))
        blacklist, sms = [], []
        for _ in range(4):
            number, _birth = make_id_number(rng, "440106")
            entry = BlacklistEntry(
                id_number=number, name="测试", reason="测试", institution_id=inst.id
            )
            msg = SmsMessage(
                mobile=make_mobile(rng),
                content="测试",
                institution_id=inst.id,
                branch_id=branch.id,
                created_at=dt.datetime.now(),
            )
            _db.session.add_all([entry, msg])
            _db.session.flush()
            blacklist.append(entry.id)
            sms.append(msg.id)
        _db.session.commit()
        for _ in range(3):
            make_line()
    yield
    with app.app_context():
        _db.session.execute(delete(BlacklistEntry).where(BlacklistEntry.id.in_(blacklist)))
        _db.session.execute(delete(SmsMessage).where(SmsMessage.id.in_(sms)))
        _db.session.commit()


@pytest.fixture(scope="module")
def clients(app, seeded):
    return Clients(app)


# --- helpers -------------------------------------------------------------------------------


def _last_audit_id(app) -> int:
    with app.app_context():
        return _db.session.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))


def _audit_since(app, after: int) -> list[AuditLog]:
    with app.app_context():
        rows = _db.session.scalars(select(AuditLog).where(AuditLog.id > after)).all()
        _db.session.expunge_all()
        return rows


def _value_of(app, cls, pk: str, column: str):
    with app.app_context():
        obj = _db.session.get(model_of(cls), int(pk))
        for part in column.split("."):
            obj = getattr(obj, part) if obj is not None else None
        return obj


def _filter_url(view, column: str, op: str, value) -> str:
    if is_api(type(view)):
        q = prison.dumps({"filters": [{"col": column, "opr": op, "value": value}]})
        return f"{list_url(view)}?q={q}"
    flts = view._filters._all_filters.get(column)
    names = [f.arg_name for f in flts] if flts else filter_ops(view.datamodel.obj, column)
    key = f"_flt_{names.index(op)}_{column}"
    from urllib.parse import urlencode

    values = value if isinstance(value, list) else [value]
    return list_url(view) + "?" + urlencode([(key, v) for v in values])


def _sort_url(view, column: str, direction: str) -> str:
    if is_api(type(view)):
        q = prison.dumps({"order_column": column, "order_direction": direction})
        return f"{list_url(view)}?q={q}"
    name = type(view).__name__
    return f"{list_url(view)}?_oc_{name}={column}&_od_{name}={direction}"


def _probe(value: str, op: str):
    """A partial value of the real one for the operation (for in/not_in: the full value)."""
    if op in ("sw", "nsw"):
        return value[:-3]
    if op in ("ew", "new"):
        return value[3:]
    if op in ("ct", "nct"):
        return value[2:-2]
    if op in ("in", "not_in"):
        return [value]
    return value[:-1]  # eq / neq: all but the last character


def _decoy(probe):
    if isinstance(probe, list):
        return ["Q" * len(p) for p in probe]
    return "Q" * len(probe)


def _typed(column: str, value: str) -> str:
    """The complete value as a person types it: spaces, a country code."""
    if column.endswith("mobile"):
        return f"+86 {value[:3]} {value[3:7]} {value[7:]}"
    return f"{value[:6]} {value[6:14]} {value[14:].lower()}"


def _can_unmask(app, cls, role: str) -> bool:
    """Whether the role's user holds can_unmask on the view's resource (from the database)."""
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=ROLE_USERS[role])
        return any(
            pv.permission.name == "can_unmask" and pv.view_menu.name == cls.class_permission_name
            for r in user.roles
            for pv in r.permissions
        )


def _pick(app, cls, clients, role, column):
    """The base list as `role` and a record on it with a value in `column` (or None)."""
    view = registered(app, cls.__name__)
    base = clients.get(role, list_url(view))
    if base.status_code in DENIED:
        return view, base, None, None
    assert base.status_code == 200, f"{role} {list_url(view)}: {base.status_code}"
    for pk in row_ids(view, base):
        value = _value_of(app, cls, pk, column)
        if value:
            return view, base, pk, value
    return view, base, None, None


def _assert_denied_and_silent(app, clients, role, view, base, url):
    before = _last_audit_id(app)
    resp = clients.get(role, url)
    assert resp.status_code in DENIED, f"{role} reached {url}: {resp.status_code}"
    assert base.status_code in DENIED
    assert _audit_since(app, before) == [], "a refused request wrote an audit row"


def _assert_no_clear_value(rows, value: str):
    for row in rows:
        text = json.dumps(row.detail or {}, ensure_ascii=False) + (row.target_id or "")
        assert value not in text, f"audit row {row.event} holds the searched value in clear"


# --- the generated tests -------------------------------------------------------------------


def test_every_registered_list_view_is_enumerated(app):
    names = {type(v).__name__ for v in registered_list_views(app)}
    assert names == {c.__name__ for c in view_classes()}
    assert OFFERED and SORTS, "no masked column found: the generator is broken"
    assert {("CustomerView", "id_number"), ("CustomerView", "mobile")} <= {
        (v, c) for v, c, _ in OFFERED
    }
    assert ("BlacklistView", "id_number") in {(v, c) for v, c, _ in OFFERED}


def test_every_masked_column_is_declared_on_its_model():
    """One declaration per model (``__masked__``) is what every view inherits."""
    for cls in view_classes():
        model = model_of(cls)
        if model is None:
            continue
        declared = set(getattr(model, "__masked__", {}) or {})
        assert set(masked_columns_of(model)) <= declared, f"{model.__name__}: {declared}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("view_name", "column", "op"), OFFERED, ids=_ids(OFFERED))
def test_masked_filter_matches_only_the_exact_value(app, clients, view_name, column, op, role):
    cls = next(c for c in view_classes() if c.__name__ == view_name)
    view, base, pk, value = _pick(app, cls, clients, role, column)
    if base.status_code in DENIED:
        _assert_denied_and_silent(
            app, clients, role, view, base, _filter_url(view, column, "eq", "1")
        )
        return
    assert pk is not None, f"{role} sees no {view_name} row with a {column}: seed data missing"
    probe = _probe(value, op)
    before = _last_audit_id(app)
    secret = clients.get(role, _filter_url(view, column, op, probe))
    decoy = clients.get(role, _filter_url(view, column, op, _decoy(probe)))
    assert secret.status_code < 500 and decoy.status_code < 500
    if _can_unmask(app, cls, role):  # current behaviour, audited
        assert secret.status_code == 200, secret.get_data(as_text=True)[:300]
        ids = row_ids(view, secret)
        assert (pk in ids) == (op in KEEPS_RECORD), (op, probe)
        events = [r.event for r in _audit_since(app, before)]
        assert "masked_search" in events, events
    else:
        assert secret.status_code == decoy.status_code
        if secret.status_code == 200:
            assert row_ids(view, secret) == row_ids(view, decoy) == row_ids(view, base), (
                f"{role}: {view_name} {column} {op} {probe!r} depends on the hidden value"
            )
            assert "精确查询" in secret.get_data(as_text=True)  # the Chinese refusal
        else:
            assert secret.status_code == 400
            assert "精确查询" in secret.get_json()["message"]
        assert not any(r.event == "masked_lookup" for r in _audit_since(app, before))
    _assert_no_clear_value(_audit_since(app, before), value)

    if op != "eq":
        return
    # the complete value, typed as a person types it, finds the record and is audited once
    before = _last_audit_id(app)
    exact = clients.get(role, _filter_url(view, column, "eq", _typed(column, value)))
    assert exact.status_code == 200, exact.get_data(as_text=True)[:300]
    ids = row_ids(view, exact)
    assert pk in ids
    assert all(_value_of(app, cls, i, column) == value for i in ids)
    rows = [r for r in _audit_since(app, before) if r.event in ("masked_lookup", "masked_search")]
    assert len(rows) == 1, [r.event for r in _audit_since(app, before)]
    assert rows[0].actor_name == ROLE_USERS[role]
    _assert_no_clear_value(_audit_since(app, before), value)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("view_name", "column", "direction"), SORTS, ids=_ids(SORTS))
def test_masked_column_is_never_a_sort_key(app, clients, view_name, column, direction, role):
    view = registered(app, view_name)
    base = clients.get(role, list_url(view))
    url = _sort_url(view, column, direction)
    if base.status_code in DENIED:
        _assert_denied_and_silent(app, clients, role, view, base, url)
        return
    assert base.status_code == 200
    opposite = "desc" if direction == "asc" else "asc"
    resp = clients.get(role, url)
    other = clients.get(role, _sort_url(view, column, opposite))
    assert resp.status_code < 500 and other.status_code < 500
    assert resp.status_code == other.status_code
    if resp.status_code == 200:
        # sorting applied would reverse the rows between the two directions
        assert row_ids(view, resp) == row_ids(view, other) == row_ids(view, base), (
            f"{role}: {view_name} sorted by {column}"
        )
    else:
        assert resp.status_code == 400


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("view_name", "column"), UNOFFERED, ids=_ids(UNOFFERED))
def test_unoffered_masked_column_filters_are_ignored(app, clients, view_name, column, role):
    """Masked columns a list does not offer as a filter (SMS mobiles, a customer's ID
    through an application): any operation, crafted by hand, changes nothing."""
    cls = next(c for c in view_classes() if c.__name__ == view_name)
    view, base, pk, value = _pick(app, cls, clients, role, column)
    if base.status_code in DENIED:
        _assert_denied_and_silent(
            app, clients, role, view, base, _filter_url(view, column, "sw", "1")
        )
        return
    if pk is None:  # nothing of this kind in the role's scope: probe with any value
        value = "440106199001011234" if "id_number" in column else "13800138000"
    for op in filter_ops(model_of(cls), column):
        probe = _probe(value, op)
        secret = clients.get(role, _filter_url(view, column, op, probe))
        decoy = clients.get(role, _filter_url(view, column, op, _decoy(probe)))
        assert secret.status_code < 500 and secret.status_code == decoy.status_code
        if secret.status_code == 200:
            assert row_ids(view, secret) == row_ids(view, decoy), (role, op)
