"""A real browser (Debian chromium via Playwright) signs in as an account manager, sees the
Chinese to-do page (我的工作台), and signs out — through a real WSGI server with CSRF on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from portal.cli import DEMO_PASSWORD

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def test_manager_signs_in_sees_chinese_workbench_and_signs_out(live_url, browser, output_dir):
    context = browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    console_errors: list[str] = []
    foreign_requests: list[str] = []
    failed_responses: list[str] = []

    def on_console(msg) -> None:
        where = (msg.location or {}).get("url", "")
        # the browser's own favicon probe is not a page error
        if msg.type == "error" and not where.endswith("/favicon.ico"):
            console_errors.append(f"{msg.text} [{where}]")

    page.on("console", on_console)
    page.on(
        "response",
        lambda resp: (
            failed_responses.append(f"{resp.status} {resp.url}") if resp.status >= 400 else None
        ),
    )
    page.on("pageerror", lambda exc: console_errors.append(f"pageerror: {exc}"))

    def on_request(req) -> None:
        parts = urlsplit(req.url)
        if parts.scheme in {"data", "blob", "about"}:
            return
        if parts.hostname not in LOCAL_HOSTS:
            foreign_requests.append(req.url)

    page.on("request", on_request)

    try:
        # the login form, with its CSRF token, as a user sees it
        page.goto(live_url + "/workbench/")
        assert "/login/" in page.url, "anonymous user was not sent to the login page"
        assert page.locator("#login-submit").is_visible()
        assert page.locator("input[name=csrf_token]").count() == 1, "login form has no CSRF token"
        page.fill("#username", "manager1")
        page.fill("#password", DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("#login-submit")
        assert "/login/" not in page.url, f"login failed; page shows: {page.inner_text('body')}"

        # the to-do page (我的工作台): the next= redirect brought us here
        if not urlsplit(page.url).path.startswith("/workbench"):
            page.goto(live_url + "/workbench/")
        workbench = page.locator("#workbench")
        workbench.wait_for(state="visible")
        assert workbench.get_by_text("我的工作台", exact=True).first.is_visible()
        assert workbench.get_by_text("待办事项", exact=True).first.is_visible()
        page.screenshot(path=str(output_dir / "browser-manager1-workbench.png"), full_page=True)

        # log out through the user menu in the navbar
        page.locator("a.dropdown-toggle:has(.fa-user)").click()
        logout = page.locator("a[href$='/logout/']")
        logout.wait_for(state="visible")
        with page.expect_navigation():
            logout.click()
        page.goto(live_url + "/workbench/")
        assert "/login/" in page.url, "still signed in after logout"
        assert page.locator("#login-submit").is_visible()
        assert page.get_by_text("员工登录").first.is_visible()
    finally:
        context.close()

    assert console_errors == [], f"browser console errors: {console_errors}; {failed_responses}"
    assert failed_responses == [], f"failed requests: {failed_responses}"
    assert foreign_requests == [], f"requests left localhost: {foreign_requests}"


def test_login_post_without_csrf_token_does_not_sign_in(live_url, browser):
    context = browser.new_context()
    try:
        resp = context.request.post(
            live_url + "/login/",
            form={"username": "manager1", "password": DEMO_PASSWORD},
            max_redirects=0,
        )
        assert resp.status in (200, 400), f"unexpected status {resp.status}"
        after = context.request.get(live_url + "/workbench/", max_redirects=0)
        assert after.status == 302 and "/login/" in after.headers["location"], (
            "a login POST without CSRF token signed the user in"
        )
    finally:
        context.close()
