"""Server-side revocation of sessions and API tokens (issue 13, items 3 and 5).

A copied session cookie or a JSON-API access token must stop working, on every web
process, as soon as its user logs out, changes or has their password reset, is locked
by failed logins, is deactivated or has their roles changed.
"""

from __future__ import annotations

import jwt as pyjwt
import pytest
from sqlalchemy import select

from models.access.audit import AuditLog
from models.access.staff import StaffUser
from tests.conftest import IsolatedClient
from tests.support.clients import PASSWORD, _second_app, api_token, fresh_user

NEW_PASSWORD = "Neww@2026ok"


@pytest.fixture(scope="module")
def other_app(app):
    """A second web process on the same database and Redis."""
    other = _second_app(app)
    other.test_client_class = IsolatedClient
    return other


def web_login(some_app, username, password=PASSWORD):
    client = some_app.test_client()
    resp = client.post("/login/", data={"username": username, "password": password})
    assert resp.status_code == 302 and "/login" not in resp.headers["Location"], username
    return client


def copy_of(client, target_app):
    """Another browser replaying the client's session cookie."""
    thief = target_app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def works(client, token=None) -> tuple[bool, bool]:
    """(page served, API served) for a cookie client, or the API alone for a token."""
    if token is not None:
        resp = client.get("/api/v1/customer/", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code in (200, 401), resp.status_code
        return resp.status_code == 200, resp.status_code == 200
    page = client.get("/customers/list/")
    assert page.status_code == 200 or (
        page.status_code == 302 and "/login/" in page.headers["Location"]
    ), page.status_code
    api = client.get("/api/v1/customer/")
    assert api.status_code in (200, 401), api.status_code
    return page.status_code == 200, api.status_code == 200


def _admin_edit(admin, uid, db, **change):
    user = db.session.get(StaffUser, uid)
    data = {
        "staff_no": user.staff_no,
        "last_name": user.last_name,
        "first_name": user.first_name,
        "email": user.email,
        "phone": "",
        "org_unit": str(user.org_unit_id),
        "roles": [str(r.id) for r in user.roles],
        "approval_limit": "",
        "active": "y",
    }
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    resp = admin.post(f"/users/edit/{uid}", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:400]


def ev_logout(ctx):
    ctx["owner"].get("/logout/")


def ev_own_password_change(ctx):
    resp = ctx["owner"].post(
        "/resetmypassword/form", data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD}
    )
    assert resp.status_code == 302


def ev_admin_password_reset(ctx):
    resp = ctx["admin"]().post(
        f"/resetpassword/form?pk={ctx['uid']}",
        data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD},
    )
    assert resp.status_code == 302


def ev_lock_by_failures(ctx):
    anon = ctx["app"].test_client()
    for i in range(ctx["app"].config["PORTAL_LOCKOUT_AFTER"]):
        anon.post(
            "/login/",
            data={"username": ctx["username"], "password": "Wrong@2026x"},
            environ_base={"REMOTE_ADDR": f"10.77.{i // 200}.{i % 200 + 1}"},
        )


def ev_deactivate(ctx):
    _admin_edit(ctx["admin"](), ctx["uid"], ctx["db"], active=None)


def ev_role_change(ctx):
    approver = ctx["app"].appbuilder.sm.find_role("approver")
    user = ctx["db"].session.get(StaffUser, ctx["uid"])
    roles = [str(r.id) for r in user.roles] + [str(approver.id)]
    _admin_edit(ctx["admin"](), ctx["uid"], ctx["db"], roles=roles)


EVENTS = [
    ev_logout,
    ev_own_password_change,
    ev_admin_password_reset,
    ev_lock_by_failures,
    ev_deactivate,
    ev_role_change,
]


@pytest.mark.parametrize("event", EVENTS, ids=[e.__name__[3:] for e in EVENTS])
def test_event_ends_every_session_and_token_of_the_user_on_every_process(
    app, other_app, db, client_for, event
):
    username, uid = fresh_user(app)
    owner = web_login(app, username)
    here = copy_of(owner, app)  # the cookie copied into another browser
    there = copy_of(owner, other_app)  # … replayed against another web process
    second = web_login(other_app, username)  # a second session of the same user
    token = api_token(app.test_client(), username).get_json()["access_token"]
    for client in (owner, here, there, second):
        assert works(client) == (True, True)
    assert works(app.test_client(), token) == (True, True)
    assert works(other_app.test_client(), token) == (True, True)
    bystander = client_for("account_manager")  # another user's session is not touched

    event({"app": app, "db": db, "owner": owner, "username": username, "uid": uid,
           "admin": lambda: client_for("hq_admin")})  # fmt: skip

    for client in (here, there, second):
        assert works(client) == (False, False), event.__name__
    assert works(app.test_client(), token) == (False, False)
    assert works(other_app.test_client(), token) == (False, False)
    assert works(bystander) == (True, True)


def test_a_replayed_revoked_cookie_is_refused_and_audited_once_per_window(app, db):
    username, _ = fresh_user(app)
    owner = web_login(app, username)
    stolen = owner.get_cookie("session").value
    owner.get("/logout/")
    for _ in range(3):
        thief = app.test_client()
        thief.set_cookie("session", stolen)
        resp = thief.get("/customers/list/")
        assert resp.status_code == 302 and "/login/" in resp.headers["Location"]
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.event == "session_revoked", AuditLog.actor_name == username)
    ).all()
    assert len(rows) == 1 and rows[0].count == 3


def test_the_login_api_issues_no_refresh_token(app):
    resp = api_token(app.test_client(), "manager1", "Demo@2026", refresh=True)
    assert resp.status_code == 400
    assert "refresh_token" not in (resp.get_json() or {})
    assert app.test_client().post("/api/v1/security/refresh").status_code == 404


def test_access_tokens_are_short_lived_and_within_the_session_limits(app, monkeypatch):
    client = app.test_client()
    token = api_token(client, "manager1", "Demo@2026").get_json()["access_token"]
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == app.config["PORTAL_API_TOKEN_MINUTES"] * 60
    assert "refresh" not in claims.get("type", "")
    # never longer than a session may stay idle, nor than its absolute limit
    monkeypatch.setitem(app.config, "PORTAL_API_TOKEN_MINUTES", 100_000)
    token = api_token(client, "manager1", "Demo@2026").get_json()["access_token"]
    claims = pyjwt.decode(token, options={"verify_signature": False})
    idle = app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    assert claims["exp"] - claims["iat"] == min(
        idle, app.config["PORTAL_SESSION_ABSOLUTE_HOURS"] * 3600
    )


def test_a_token_without_the_session_epoch_claim_is_refused(app):
    """Tokens minted the way Flask-AppBuilder does (no revocation claim) no longer work."""
    from flask_jwt_extended import create_access_token

    with app.app_context():
        uid = db_user_id(app, "manager1")
        token = create_access_token(identity=str(uid), fresh=True)
    assert works(app.test_client(), token) == (False, False)


def db_user_id(app, username):
    from portal.core.extensions import db

    return db.session.scalar(select(StaffUser.id).where(StaffUser.username == username))


def test_a_role_change_made_from_the_role_side_ends_the_users_sessions(app, db):
    """The flush hook sees a role's member list change as well as a user's role list."""
    username, uid = fresh_user(app)
    client = web_login(app, username)
    before = db.session.get(StaffUser, uid).session_epoch
    approver = app.appbuilder.sm.find_role("approver")
    approver.user.append(db.session.get(StaffUser, uid))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(StaffUser, uid).session_epoch > before
    assert works(client) == (False, False)
