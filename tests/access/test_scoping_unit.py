"""portal/access/scoping.py on its own: scope_for per role and node kind, and scope_clause (SQL)
agreeing with in_scope (Python) on every seeded row for many users."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import select

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from portal.access.scoping import (
    LEVEL_ALL,
    LEVEL_BRANCH,
    LEVEL_INSTITUTION,
    LEVEL_NONE,
    LEVEL_OWN,
    NO_SCOPE,
    SYSTEM_SCOPE,
    Scope,
    apply_scope,
    current_scope,
    in_scope,
    scope_clause,
    scope_for,
)

SCOPED_MODELS = (Customer, OrgUnit, StaffUser, AuditLog)


def _user(db, username):
    return db.session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()


def _node(db, code):
    return db.session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


@pytest.mark.parametrize(
    ("username", "level", "node_code"),
    [
        ("admin", LEVEL_ALL, None),
        ("auditor1", LEVEL_ALL, None),  # read-only by permission, province-wide by node
        ("inst_admin", LEVEL_INSTITUTION, "I01"),
        ("marketing1", LEVEL_INSTITUTION, "I01"),
        ("i01_approver", LEVEL_INSTITUTION, "I01"),
        ("i02_admin", LEVEL_INSTITUTION, "I02"),
        ("approver1", LEVEL_BRANCH, "I01B01"),
        ("branch_mgr1", LEVEL_BRANCH, "I01B01"),
        ("i02b01_mgr", LEVEL_BRANCH, "I02B01"),
        ("manager1", LEVEL_OWN, "I01B01"),
        ("manager2", LEVEL_OWN, "I01B01"),
        ("i03b04_am1", LEVEL_OWN, "I03B04"),
    ],
)
def test_scope_for_seeded_users(db, username, level, node_code):
    user = _user(db, username)
    scope = scope_for(user)
    assert scope.level == level
    assert scope.user_id == user.id
    if node_code is None:
        assert scope.institution_id is None and scope.branch_id is None
        return
    node = _node(db, node_code)
    if node.kind == "institution":
        assert scope == Scope(LEVEL_INSTITUTION, user.id, institution_id=node.id)
    else:
        assert scope.branch_id == node.id and scope.institution_id == node.institution_id


def _fake(roles, node=None, *, active=True, authenticated=True, groups=()):
    return SimpleNamespace(
        id=4242,
        is_authenticated=authenticated,
        is_active=active,
        roles=[SimpleNamespace(name=r) for r in roles],
        groups=[SimpleNamespace(roles=[SimpleNamespace(name=r) for r in g]) for g in groups],
        org_unit=node,
    )


BRANCH = SimpleNamespace(id=11, kind="branch", institution_id=2)
INST = SimpleNamespace(id=2, kind="institution", institution_id=2)
PROV = SimpleNamespace(id=1, kind="province", institution_id=None)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (None, NO_SCOPE),
        (_fake(["hq_admin"], PROV, authenticated=False), NO_SCOPE),
        (_fake(["hq_admin"], PROV, active=False), NO_SCOPE),
        (_fake([], BRANCH), NO_SCOPE),
        (_fake(["public"], BRANCH), NO_SCOPE),
        (_fake(["no_such_role"], BRANCH), NO_SCOPE),
        (_fake(["hq_admin"], PROV), Scope(LEVEL_ALL, 4242)),
        (_fake(["institution_admin"], INST), Scope(LEVEL_INSTITUTION, 4242, institution_id=2)),
        (_fake(["approver"], BRANCH), Scope(LEVEL_BRANCH, 4242, institution_id=2, branch_id=11)),
        (_fake(["account_manager"], BRANCH), Scope(LEVEL_OWN, 4242, 2, 11)),
        (_fake(["account_manager"], INST), Scope(LEVEL_OWN, 4242, 2, None)),
        # the widest role wins
        (_fake(["account_manager", "branch_manager"], BRANCH), Scope(LEVEL_BRANCH, 4242, 2, 11)),
        # roles through a group count too
        (_fake([], BRANCH, groups=[["approver"]]), Scope(LEVEL_BRANCH, 4242, 2, 11)),
        # a node role without a node cannot see a node: own records only
        (_fake(["branch_manager"], None), Scope(LEVEL_OWN, 4242, None, None)),
    ],
)
def test_scope_for_role_and_node_kinds(user, expected):
    assert scope_for(user) == expected


def test_current_scope_needs_a_request(app):
    with app.app_context(), pytest.raises(RuntimeError):
        current_scope()
    with app.test_request_context():
        from flask import g

        g.user = None
        assert current_scope() == NO_SCOPE


def test_no_scope_sees_nothing_and_system_scope_everything(db):
    for model in SCOPED_MODELS:
        total = db.session.execute(select(model.id)).all()
        assert db.session.execute(apply_scope(select(model.id), model, NO_SCOPE)).all() == []
        assert len(
            db.session.execute(apply_scope(select(model.id), model, SYSTEM_SCOPE)).all()
        ) == (len(total))
        assert not in_scope(None, Scope(LEVEL_BRANCH, 1, 1, 1))


SCOPE_USERS = [
    "admin",
    "auditor1",
    "inst_admin",
    "marketing1",
    "i02_admin",
    "i01_approver",
    "approver1",
    "branch_mgr1",
    "i02b01_mgr",
    "manager1",
    "manager2",
    "i01b02_am1",
    "i03b04_am2",
]


@pytest.mark.parametrize("username", SCOPE_USERS)
def test_scope_clause_and_in_scope_agree_on_every_row(db, username):
    scope = scope_for(_user(db, username))
    assert scope.level != LEVEL_NONE
    for model in SCOPED_MODELS:
        rows = db.session.execute(select(model)).scalars().all()
        by_sql = set(
            db.session.execute(select(model.id).where(scope_clause(model, scope))).scalars()
        )
        by_python = {row.id for row in rows if in_scope(row, scope)}
        assert by_sql == by_python, (username, model.__name__)
        # legacy Query objects (Flask-AppBuilder's) are filtered the same way
        legacy = {r.id for r in apply_scope(db.session.query(model), model, scope)}
        assert legacy == by_sql, (username, model.__name__)
    # and the scope has the shape its level promises
    customers = db.session.execute(select(Customer).where(scope_clause(Customer, scope))).scalars()
    customers = list(customers)
    assert customers, username
    if scope.level == LEVEL_OWN:
        assert {c.manager_id for c in customers} == {scope.user_id}
    elif scope.level == LEVEL_BRANCH:
        assert {c.branch_id for c in customers} == {scope.branch_id}
    elif scope.level == LEVEL_INSTITUTION:
        assert {c.institution_id for c in customers} == {scope.institution_id}
    else:
        assert len(customers) == db.session.query(Customer).count()


def test_org_and_staff_scope_shapes(db):
    i01 = _node(db, "I01")
    inst = scope_for(_user(db, "inst_admin"))
    nodes = db.session.execute(select(OrgUnit).where(scope_clause(OrgUnit, inst))).scalars()
    nodes = list(nodes)  # other tests may add nodes to I01; none may come from elsewhere
    assert {n.code for n in nodes} >= {"I01", "I01B01", "I01B02", "I01B03", "I01B04"}
    assert {n.institution_id for n in nodes} == {i01.id}
    staff = db.session.execute(select(StaffUser).where(scope_clause(StaffUser, inst))).scalars()
    assert {u.institution_id for u in staff} == {i01.id}
    # an account manager sees themself among staff, and only their own branch node
    m1 = _user(db, "manager1")
    own = scope_for(m1)
    assert [
        u.id
        for u in db.session.execute(select(StaffUser).where(scope_clause(StaffUser, own))).scalars()
    ] == [m1.id]
    assert [
        n.code
        for n in db.session.execute(select(OrgUnit).where(scope_clause(OrgUnit, own))).scalars()
    ] == ["I01B01"]
