"""Login throttling, temporary lockout, admin unlock and aggregated security audit
(issue 13, item 6; the API's 429 of item 5)."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from models.access.audit import AuditLog
from models.access.staff import StaffUser
from models.customers import Customer
from portal.access import login_guard
from tests.support.clients import PASSWORD, api_token, fresh_user

WRONG = "Wrong@2026x"


def attempt(client, username, password, ip):
    return client.post(
        "/login/",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def signed_in(resp) -> bool:
    return resp.status_code == 302 and "/login" not in resp.headers["Location"]


def message(client) -> str:
    return client.get("/login/").get_data(as_text=True)


def rows(db, event, **where):
    stmt = select(AuditLog).where(AuditLog.event == event)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditLog, key) == value)
    return db.session.scalars(stmt.order_by(AuditLog.id)).all()


def test_a_colleague_behind_the_same_address_is_not_blocked(app):
    """Per-(username, IP) counters: one user's failures do not block the branch's NAT address."""
    victim, _ = fresh_user(app)
    colleague, _ = fresh_user(app)
    branch_ip = "10.20.30.40"
    client = app.test_client()
    per_user_ip = app.config["PORTAL_LOGIN_MAX_ATTEMPTS"]
    for _ in range(per_user_ip):
        assert not signed_in(attempt(client, victim, WRONG, branch_ip))
    assert not signed_in(attempt(client, victim, PASSWORD, branch_ip))  # throttled
    assert "登录尝试过于频繁" in message(client)
    assert signed_in(attempt(app.test_client(), colleague, PASSWORD, branch_ip))
    # the same user from another address is not throttled (and not locked: 5 < lockout)
    assert signed_in(attempt(app.test_client(), victim, PASSWORD, "10.99.0.1"))


def test_the_per_address_budget_stops_a_spray_across_usernames(app):
    budget = app.config["PORTAL_LOGIN_IP_MAX_FAILURES"]
    assert budget >= 50  # sized for a branch behind one address
    client = app.test_client()
    spray_ip = "10.66.0.1"
    for i in range(budget):
        attempt(client, f"ghost{i}", WRONG, spray_ip)
    colleague, _ = fresh_user(app)
    assert not signed_in(attempt(app.test_client(), colleague, PASSWORD, spray_ip))
    assert signed_in(attempt(app.test_client(), colleague, PASSWORD, "10.66.0.2"))


def lock(app, username):
    client = app.test_client()
    for i in range(app.config["PORTAL_LOCKOUT_AFTER"]):  # spread over addresses: per-user lock
        attempt(client, username, WRONG, f"10.55.{i}.1")


def test_lockout_is_temporary_and_expires_after_the_configured_time(app, db, monkeypatch):
    username, uid = fresh_user(app)
    lock(app, username)
    user = db.session.get(StaffUser, uid)
    assert user.active is True  # a temporary lock, not an admin deactivation
    minutes = app.config["PORTAL_LOCKOUT_MINUTES"]
    assert minutes >= 15
    remaining = (user.locked_until - dt.datetime.now()).total_seconds()
    assert minutes * 60 - 60 < remaining <= minutes * 60
    client = app.test_client()
    assert not signed_in(attempt(client, username, PASSWORD, "10.55.200.1"))
    assert "临时锁定" in message(client)
    assert rows(db, "account_locked", target_id=str(uid))
    real_now = login_guard.now
    monkeypatch.setattr(
        login_guard, "now", lambda: real_now() + dt.timedelta(minutes=minutes, seconds=5)
    )
    assert signed_in(attempt(app.test_client(), username, PASSWORD, "10.55.200.2"))


def test_an_admin_unlocks_a_locked_account(app, db, client_for):
    username, uid = fresh_user(app)
    lock(app, username)
    admin = client_for("hq_admin")
    assert "解除锁定" in admin.get(f"/users/show/{uid}").get_data(as_text=True)
    resp = admin.post(f"/users/action/unlock/{uid}")
    assert resp.status_code == 302
    db.session.expire_all()
    user = db.session.get(StaffUser, uid)
    assert user.locked_until is None and not user.fail_login_count
    assert rows(db, "account_unlocked", target_id=str(uid))
    # the address the user failed from is not throttled any more either
    assert signed_in(attempt(app.test_client(), username, PASSWORD, "10.55.0.1"))
    # staff without the user-admin permission cannot unlock
    assert client_for("branch_manager").post(f"/users/action/unlock/{uid}").status_code in (
        302,
        403,
    )


def test_a_thousand_throttled_attempts_are_one_audit_row(app, db):
    username, _ = fresh_user(app)
    client = app.test_client()
    ip = "10.44.0.1"
    for _ in range(app.config["PORTAL_LOGIN_MAX_ATTEMPTS"]):
        attempt(client, username, WRONG, ip)
    for _ in range(1000):
        attempt(client, username, WRONG, ip)
    throttled = rows(db, "login_throttled", actor_name=username)
    assert len(throttled) == 1
    assert throttled[0].count == 1000 and throttled[0].ip == ip
    assert throttled[0].last_at >= throttled[0].at


def test_a_username_spray_is_aggregated_and_usernames_are_normalised(app, db):
    client = app.test_client()
    ip = "10.45.0.1"
    before = db.session.scalar(select(func.max(AuditLog.id))) or 0
    long_name = "a\u200bb\x01c" + "x" * 500
    attempt(client, long_name, WRONG, ip)
    for i in range(app.config["PORTAL_LOGIN_IP_MAX_FAILURES"] - 1):
        attempt(client, f"' OR 1=1 -- {i}", WRONG, ip)
    for _ in range(50):
        attempt(client, f"sqlmap{secrets.token_hex(4)}", WRONG, ip)
    new = db.session.scalars(
        select(AuditLog).where(AuditLog.id > before).order_by(AuditLog.id)
    ).all()
    throttled = [r for r in new if r.event == "login_throttled"]
    assert len(throttled) == 1 and throttled[0].count == 50
    names = [r.actor_name for r in new if r.actor_name]
    assert "abcxxx" in names[0] and len(names[0]) <= 64
    assert all(len(n) <= 64 and "\u200b" not in n and "\x01" not in n for n in names)


def test_out_of_scope_requests_are_one_aggregated_audit_row(app, db, client_for):
    manager = client_for("account_manager")
    uid = db.session.scalar(select(StaffUser.id).where(StaffUser.username == "manager1"))
    others = db.session.scalars(
        select(Customer.id).where(Customer.manager_id != uid).order_by(Customer.id).limit(50)
    ).all()
    assert len(others) == 50
    for pk in others:
        assert manager.get(f"/customers/show/{pk}").status_code == 404
    for pk in others[:10]:
        assert manager.get(f"/api/v1/customer/{pk}").status_code == 404
    refused = rows(db, "scope_denied", actor_id=uid)
    assert sorted(r.count for r in refused) == [10, 50]
    assert {r.institution_id for r in refused} == {db.session.get(StaffUser, uid).institution_id}


def test_the_api_login_answers_429_with_retry_after_when_throttled(app):
    username, _ = fresh_user(app)
    client = app.test_client()
    for _ in range(app.config["PORTAL_LOGIN_MAX_ATTEMPTS"]):
        assert api_token(client, username, WRONG).status_code == 401
    resp = api_token(client, username)
    assert resp.status_code == 429
    assert 0 < int(resp.headers["Retry-After"]) <= app.config["PORTAL_LOGIN_WINDOW_SECONDS"]
    assert "过于频繁" in resp.get_json()["message"]


def test_an_aggregated_audit_row_can_only_count_up(app, db):
    username, _ = fresh_user(app)
    client = app.test_client()
    for _ in range(app.config["PORTAL_LOGIN_MAX_ATTEMPTS"] + 2):
        attempt(client, username, WRONG, "10.46.0.1")
    row = rows(db, "login_throttled", actor_name=username)[0]
    for statement in (
        f"UPDATE audit_log SET actor_name = 'tampered' WHERE id = {row.id}",
        f"UPDATE audit_log SET count = 1 WHERE id = {row.id}",
        f"DELETE FROM audit_log WHERE id = {row.id}",
    ):
        with db.engine.connect() as conn, pytest.raises(DatabaseError) as exc:
            conn.execute(text(statement))
            conn.commit()
        assert "append-only" in str(exc.value)
