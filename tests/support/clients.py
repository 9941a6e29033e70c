"""Logged-in test clients and browser pages per role."""

from __future__ import annotations

import secrets

from portal import create_app
from portal.access.staff import create_staff
from portal.cli import DEMO_PASSWORD

ROLE_USERS = {
    "hq_admin": "admin",
    "institution_admin": "inst_admin",
    "data_marketing": "marketing1",
    "account_manager": "manager1",
    "account_manager_2": "manager2",
    "approver": "approver1",
    "branch_manager": "branch_mgr1",
    "auditor": "auditor1",
}


def login(app, username: str, password: str = DEMO_PASSWORD):
    client = app.test_client()
    resp = client.post("/login/", data={"username": username, "password": password})
    assert resp.status_code == 302 and "/login" not in resp.headers.get("Location", ""), (
        f"login failed for {username}"
    )
    return client


def browser_login(browser, base_url: str, username: str, password: str = DEMO_PASSWORD):
    """A new Chinese-locale page logged in as `username`, recording console errors and any
    request that leaves localhost in `page.portal_errors` / `page.portal_foreign`."""
    from urllib.parse import urlsplit

    context = browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.portal_errors, page.portal_foreign = [], []
    page.on("console", lambda m: page.portal_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.portal_errors.append(str(e)))
    page.on(
        "request",
        lambda r: (
            None
            if urlsplit(r.url).hostname in {"127.0.0.1", "localhost", "::1", None}
            or r.url.startswith("data:")
            else page.portal_foreign.append(r.url)
        ),
    )
    page.goto(base_url + "/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"browser login failed for {username}"
    return page


def _second_app(app, **extra):
    """Another web process on the same database and Redis."""
    cfg = {
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "WTF_CSRF_ENABLED": False,
    }
    cfg.update(extra)
    return create_app(cfg)


PASSWORD = "Sess@2026ok"


def fresh_user(app, roles=("account_manager",)) -> tuple[str, int]:
    name = "sess_" + secrets.token_hex(4)
    with app.app_context():
        user = create_staff(
            username=name,
            roles=list(roles),
            org_code="I01B02",
            password=PASSWORD,
            last_name="测试",
            staff_no="S" + secrets.token_hex(4),
        )
        return name, user.id


def api_token(client, username, password=PASSWORD, **extra):
    body = {"username": username, "password": password, "provider": "db", **extra}
    return client.post("/api/v1/security/login", json=body)
