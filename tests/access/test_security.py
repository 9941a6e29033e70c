"""Security baseline: throttling shared through Redis, lockout, CSRF, cookies, timeouts, headers."""

import re
import time

import pytest
from sqlalchemy import select

from models.access.staff import StaffUser
from portal.access.staff import create_staff
from tests.support.clients import _second_app

WRONG = "Wrong@2026x"


def _fail(client, username, times):
    for _ in range(times):
        client.post("/login/", data={"username": username, "password": WRONG})


def _logged_in(client):
    resp = client.get("/")
    return resp.status_code == 200


def test_throttle_counts_are_shared_between_web_processes(app):
    other = _second_app(app)
    _fail(app.test_client(), "manager2", 3)
    _fail(other.test_client(), "manager2", 2)
    client = app.test_client()
    resp = client.post(
        "/login/", data={"username": "manager2", "password": "Demo@2026"}, follow_redirects=True
    )
    assert "登录尝试过于频繁" in resp.get_data(as_text=True)
    assert not _logged_in(client)


def test_json_login_api_is_throttled_too(app):
    client = app.test_client()
    body = {"username": "approver1", "password": WRONG, "provider": "db"}
    codes = [client.post("/api/v1/security/login", json=body).status_code for _ in range(5)]
    assert codes == [401] * 5
    good = {"username": "approver1", "password": "Demo@2026", "provider": "db"}
    assert client.post("/api/v1/security/login", json=good).status_code == 429
    app.extensions["redis"].flushdb()
    resp = client.post("/api/v1/security/login", json=good)
    assert resp.status_code == 200 and "access_token" in resp.get_json()


def test_account_locks_after_repeated_failures_across_windows(app, db, redis):
    with app.app_context():
        create_staff(
            username="lock_me", roles=["account_manager"], org_code="I01B02", password="Lock@2026ok"
        )
    client = app.test_client()
    limit = app.config["PORTAL_LOCKOUT_AFTER"]
    window = app.config["PORTAL_LOGIN_MAX_ATTEMPTS"]
    done = 0
    while done < limit:
        n = min(window, limit - done)
        _fail(client, "lock_me", n)
        done += n
        redis.flushdb()  # the throttle window passes; the lockout counter does not
    db.session.expire_all()
    user = db.session.execute(select(StaffUser).where(StaffUser.username == "lock_me")).scalar_one()
    assert user.locked_until is not None and user.active is True  # locked, not deactivated
    resp = client.post(
        "/login/", data={"username": "lock_me", "password": "Lock@2026ok"}, follow_redirects=True
    )
    assert "账户已临时锁定" in resp.get_data(as_text=True)
    assert not _logged_in(client)


def test_csrf_is_enforced_on_forms_and_portal_posts(app):
    strict = _second_app(app, WTF_CSRF_ENABLED=True)
    client = strict.test_client()
    page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/login/", data={"username": "branch_mgr1", "password": "Demo@2026"}
        ).status_code
        == 400
    )
    resp = client.post(
        "/login/", data={"username": "branch_mgr1", "password": "Demo@2026", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert client.post("/customers/export/").status_code == 400  # no token: refused
    assert client.post("/customers/export/", data={"csrf_token": token}).status_code == 200
    api = strict.test_client()  # the JSON login API issues a token, no cookie: no CSRF needed
    good = {"username": "branch_mgr1", "password": "Demo@2026", "provider": "db"}
    assert api.post("/api/v1/security/login", json=good).status_code == 200


def test_session_cookie_flags(app):
    resp = app.test_client().post("/login/", data={"username": "manager1", "password": "Demo@2026"})
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    prod = _second_app(app, ENV_NAME="production", SECRET_KEY="x" * 40)
    assert prod.config["SESSION_COOKIE_SECURE"] is True


def test_production_refuses_a_default_or_missing_secret(app):
    for secret in ("dev-only-change-me", "", "short"):
        with pytest.raises(RuntimeError, match="SECRET_KEY"):
            _second_app(app, ENV_NAME="production", SECRET_KEY=secret)


def test_absolute_session_timeout_logs_out(app, client_for):
    client = client_for("account_manager")
    assert _logged_in(client)
    with client.session_transaction() as sess:
        sess["_portal_login_at"] = (
            int(time.time()) - app.config["PORTAL_SESSION_ABSOLUTE_HOURS"] * 3600 - 5
        )
    resp = client.get("/")
    assert resp.status_code == 302 and "/login/" in resp.headers["Location"]
    assert not _logged_in(client)


def test_idle_timeout_expires_the_session(app):
    from datetime import timedelta

    short = _second_app(app, PERMANENT_SESSION_LIFETIME=timedelta(seconds=1))
    client = short.test_client()
    client.post("/login/", data={"username": "manager1", "password": "Demo@2026"})
    assert _logged_in(client)
    time.sleep(2.1)
    assert not _logged_in(client)


def test_security_headers_and_nonce_csp(client_for):
    resp = client_for("account_manager").get("/customers/list/")
    h = resp.headers
    csp = h["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    scripts = re.findall(r"<script([^>]*)>", resp.get_data(as_text=True))
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["Cache-Control"] == "no-store"


def test_login_redirect_only_goes_inside_the_portal(app):
    client = app.test_client()
    resp = client.post(
        "/login/?next=https://evil.example.com/steal",
        data={"username": "manager1", "password": "Demo@2026"},
    )
    assert resp.status_code == 302
    assert "evil.example.com" not in resp.headers["Location"]


def test_password_policy():
    from portal.access.passwords import password_problems

    assert password_problems("Demo@2026") == []
    assert password_problems("short1A") and password_problems("alllowercaseletters")
    assert password_problems("Aaaa1111@@") and not password_problems("Abcd1234@x")


def test_anonymous_gets_nothing_but_login(anon_client):
    for url in (
        "/",
        "/customers/list/",
        "/workbench/",
        "/audit/list/",
        "/users/list/",
        "/api/v1/customer/",
    ):
        resp = anon_client.get(url)
        assert resp.status_code in (302, 401), url
        if resp.status_code == 302:
            assert "/login/" in resp.headers["Location"]


def test_error_pages_are_chinese_and_api_errors_are_json(client_for, app):
    client = client_for("account_manager")
    resp = client.get("/customers/show/999999999")
    assert resp.status_code == 404 and "不在您的数据范围内" in resp.get_data(as_text=True)
    resp = client.get("/org/list/")
    assert resp.status_code == 403 and "没有访问" in resp.get_data(as_text=True)
    strict = _second_app(app, WTF_CSRF_ENABLED=True)
    resp = strict.test_client().post("/login/", data={"username": "x", "password": "y"})
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)


def test_a_filter_value_the_column_cannot_hold_is_a_400_not_a_500(client_for):
    client = client_for("branch_manager")
    resp = client.get("/customers/list/?_flt_0_branch=not-a-number")
    assert resp.status_code in (200, 302, 400)  # FAB's list flashes and redirects; never a 500
    if resp.status_code == 400:
        assert "查询条件无效" in resp.get_data(as_text=True)
    assert client.get("/customers/list/").status_code == 200  # the session still works
