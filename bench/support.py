"""What the benchmarks share: free ports, waiting for a server, PostgreSQL URLs, a fresh
database, a migrated and seeded app, timed set-based SQL, and a logged-in test client.

The benchmarks need the portal's own dependencies only: nothing here imports ``tests`` or
``pytest`` (install without the ``[test]`` extras and ``python -m bench.<name> --help`` runs).
"""

from __future__ import annotations

import os
import socket
import time

DEMO_PASSWORD = "Demo@2026"  # the demo logins' password (portal.cli.DEMO_PASSWORD)


def pg_url(name: str) -> str:
    """The benchmark's PostgreSQL URL: ``BENCH_PG_URL``, else database `name` on 127.0.0.1."""
    return os.environ.get("BENCH_PG_URL", f"postgresql://postgres@127.0.0.1:5432/{name}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_up(url: str) -> bool:
    import httpx

    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


def wait_http(url: str, timeout: float = 60) -> None:
    """Wait until `url` answers (any status), else TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_up(url):
            return
        time.sleep(0.2)
    raise TimeoutError(url)


def reset_database(url: str, drop: bool = False) -> None:
    """Create the PostgreSQL database if missing, then empty its public schema (``drop``:
    drop and create the whole database instead, ending its sessions)."""
    import psycopg

    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as c:
        if drop:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(f'CREATE DATABASE "{name}"')
    if not drop:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")


def timed_sql(conn, label: str, sql: str, **params) -> None:
    from sqlalchemy import text

    t = time.perf_counter()
    conn.execute(text(sql), params)
    conn.commit()
    print(f"  {label}: {time.perf_counter() - t:.1f} s", flush=True)


def seeded_app(url: str, instance_path: str, customers: int = 100, reset: bool = True, **overrides):
    """A migrated database with the demo org, staff and products; returns the app.
    PostgreSQL databases are emptied first (``reset``); a SQLite file is used as it is.
    `overrides` are more config values (e.g. ``REDIS_URL=None``: the embedded Redis)."""
    if reset and url.startswith("postgresql"):
        reset_database(url)
    os.environ.setdefault("PORTAL_INSTANCE_PATH", instance_path)
    from flask_migrate import upgrade

    from portal import create_app

    over = {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False}
    over.update(overrides)
    with create_app(over).app_context():
        upgrade()
    app = create_app(over)  # sees the migrated schema: permissions and roles
    with app.app_context():
        from portal.demo.seed import seed_demo
        from portal.demo.whitelist import seed_products

        seed_demo(customers=customers, password=DEMO_PASSWORD)
        seed_products()
    return app


def login(app, username: str, password: str = DEMO_PASSWORD):
    """A Flask test client signed in through the real login form (CSRF off in `seeded_app`)."""
    client = app.test_client()
    resp = client.post("/login/", data={"username": username, "password": password})
    if resp.status_code != 302 or "/login" in resp.headers.get("Location", ""):
        raise RuntimeError(f"login failed for {username}")
    return client
