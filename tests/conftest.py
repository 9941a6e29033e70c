"""Shared fixtures: one migrated database per test session (SQLite, or PostgreSQL via
TEST_DATABASE_URL), a real Redis (TEST_REDIS_URL, else an embedded redis-server), the demo
org tree and staff, and one logged-in client per role.

In CI (CI=true) a test that would be skipped for lack of PostgreSQL, Redis or the browser
fails instead: nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

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
OUTPUT_DIR = Path(
    os.environ.get("TEST_OUTPUT_DIR", Path(__file__).resolve().parent.parent / "test-output")
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI a skip is a failure: PostgreSQL, Redis and the browser must all be there."""
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("CI", "").lower() == "true"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which forbids skips: {report.longrepr}"


class IsolatedClient(FlaskClient):
    """Each request gets a fresh app context, so `g` (current user, cached scope) never
    carries over from a test's own pushed context or from another client's request —
    as in production, where every request has its own context."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def instance_dir():
    path = Path(tempfile.mkdtemp(prefix="portal-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(instance_dir):
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
        return url
    return "sqlite:///" + str(instance_dir / "test.db")


@pytest.fixture(scope="session")
def app(instance_dir, database_url):
    """The app on a freshly migrated database with the demo org tree, staff and 300 customers."""
    os.environ["PORTAL_INSTANCE_PATH"] = str(instance_dir)
    from flask_migrate import upgrade

    from portal import create_app

    overrides = {
        "ENV_NAME": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": os.environ.get("TEST_REDIS_URL"),
    }
    bootstrap = create_app(overrides)
    with bootstrap.app_context():
        upgrade()
    application = create_app(overrides)  # sees the migrated schema: permissions and roles
    application.test_client_class = IsolatedClient
    with application.app_context():
        from portal.demo import seed_demo

        seed_demo(customers=300, password=DEMO_PASSWORD)
    yield application
    from portal.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def templates(app):
    """The SMS templates seeded, once per module that asks (applications send SMS)."""
    from portal.sms_seed import seed_templates

    with app.app_context():
        seed_templates()


@pytest.fixture()
def db(app):
    from portal.extensions import db as _db

    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()


@pytest.fixture(autouse=True)
def redis(app):
    """Real Redis, emptied before each test (login throttle counters, queues)."""
    conn = app.extensions["redis"]
    conn.flushdb()
    yield conn


def login(app, username: str, password: str = DEMO_PASSWORD):
    client = app.test_client()
    resp = client.post("/login/", data={"username": username, "password": password})
    assert resp.status_code == 302 and "/login" not in resp.headers.get("Location", ""), (
        f"login failed for {username}"
    )
    return client


@pytest.fixture()
def client_for(app):
    """client_for("approver") → a test client logged in as that role's demo user."""

    def make(role: str):
        return login(app, ROLE_USERS.get(role, role))

    return make


@pytest.fixture()
def anon_client(app):
    return app.test_client()


@pytest.fixture()
def admin_client(client_for):
    return client_for("hq_admin")


@pytest.fixture()
def inst_admin_client(client_for):
    return client_for("institution_admin")


@pytest.fixture()
def marketing_client(client_for):
    return client_for("data_marketing")


@pytest.fixture()
def manager_client(client_for):
    return client_for("account_manager")


@pytest.fixture()
def approver_client(client_for):
    return client_for("approver")


@pytest.fixture()
def branch_manager_client(client_for):
    return client_for("branch_manager")


@pytest.fixture()
def auditor_client(client_for):
    return client_for("auditor")


@pytest.fixture(scope="session")
def output_dir():
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUTPUT_DIR


# --- real browser ------------------------------------------------------------------------------

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def live_server_url(app):
    """The portal on the test database and Redis, served by waitress, CSRF enabled."""
    from portal import create_app
    from tests.live_server import LiveServer

    served = create_app(
        {
            "ENV_NAME": "testing",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": app.config["REDIS_URL"],
            "WTF_CSRF_ENABLED": True,
        }
    )
    with LiveServer(served) as server:
        yield server.url


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium driven by Playwright (never `playwright install`)."""
    import shutil as _shutil

    if not (os.path.exists(CHROMIUM) or _shutil.which(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


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
