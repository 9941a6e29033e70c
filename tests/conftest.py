"""Shared fixtures: one migrated database per test session (SQLite, or PostgreSQL via
TEST_DATABASE_URL), a real Redis (TEST_REDIS_URL, else an embedded redis-server), the demo
org tree and staff, and one logged-in client per role.

In CI (CI=true) a test that would be skipped for lack of PostgreSQL, Redis or the browser
fails instead: nothing is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from portal.cli import DEMO_PASSWORD
from portal.demo.whitelist import seed_products
from tests.support.clients import ROLE_USERS, login
from tests.support.processes import (
    ROOT,
    Sandbox,
    base_env,
    free_port,
    wait_http,
)

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
        from portal.demo.seed import seed_demo

        seed_demo(customers=300, password=DEMO_PASSWORD)
    yield application
    from portal.core.extensions import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def templates(app):
    """The SMS templates seeded, once per module that asks (applications send SMS)."""
    from portal.sms.standard_templates import seed_templates

    with app.app_context():
        seed_templates()


@pytest.fixture()
def db(app):
    from portal.core.extensions import db as _db

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
    from tests.support.live_server import LiveServer

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


@pytest.fixture()
def products(db):
    seed_products()
    return db


@pytest.fixture()
def live_url(live_server_url):
    return live_server_url


@pytest.fixture()
def browser(chromium):
    return chromium


ADAPTER_KEYS = ("SMS_GATEWAY_URL", "CORE_BANKING_URL", "MOBILE_BANKING_URL", "CREDIT_BUREAU_URL")


@pytest.fixture(scope="session")
def sandbox_proc(app, instance_dir):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(instance_dir / "sandbox.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "sandbox", "--port", str(port)],
        env=base_env(app),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_http(url + "/")
    yield Sandbox(url, proc)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture()
def sandbox(app, sandbox_proc, db):
    """The sandbox, reset, with the app's adapters pointed at it and fast retries."""
    from sqlalchemy import delete

    from models.background import IntegrationCursor

    sandbox_proc.reset()
    db.session.execute(delete(IntegrationCursor))  # the reset sandbox numbers receipts from 1
    db.session.commit()
    saved = {k: app.config[k] for k in (*ADAPTER_KEYS, "OUTBOX_BACKOFF_BASE", "OUTBOX_BACKOFF_MAX")}
    for k in ADAPTER_KEYS:
        app.config[k] = sandbox_proc.url
    # fast retries, and a low cap: a fault test's unlucky tail of failed attempts must not
    # push an item's next attempt past the test's drain deadline (0.05·2^11 s is 100 s)
    app.config["OUTBOX_BACKOFF_BASE"] = 0.05
    app.config["OUTBOX_BACKOFF_MAX"] = 0.5
    yield sandbox_proc
    app.config.update(saved)


@pytest.fixture()
def spawn(app, instance_dir):
    """spawn("worker", env={...}) → a `portal worker|cron` subprocess, stopped after the test."""
    procs: list[subprocess.Popen] = []
    logs: list = []

    def start(command: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        logs.append(instance_dir / f"{command}-{len(procs)}.log")
        log = open(logs[-1], "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal.cli", command, *args],
            env=base_env(app, **(env or {})),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    for path in logs:  # pytest shows this only when the test failed
        print(f"----- {path.name} (last 40 lines) -----")
        print("\n".join(path.read_text(errors="replace").splitlines()[-40:]))


@pytest.fixture(scope="session")
def sms_templates(app):
    """The standard SMS templates `portal demo` seeds."""
    from portal.sms.standard_templates import seed_templates

    with app.app_context():
        seed_templates()


def pytest_collection_modifyitems(items):
    """The order the flat tests/ folder gave, where the tests depend on it: first the tests
    with real worker and cron processes (marker `integration`, in module order, as from
    tests/integration/) — those processes run every schedule over the whole shared database
    (offer sync, summary refresh, …), which the other tests fill; then tests/demo/, which
    checks the seed as `portal demo` leaves it (other tests add org units and staff). Until
    each test cleans up what it depends on, the order matters."""

    def rank(item) -> tuple[int, str]:
        if item.get_closest_marker("integration"):
            return (0, item.path.name)
        return (1, "") if item.path.parent.name == "demo" else (2, "")

    items.sort(key=rank)  # stable: everything else keeps the collection order
