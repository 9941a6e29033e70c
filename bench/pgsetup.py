"""Shared set-up of the PostgreSQL benchmarks: an empty database, a migrated and seeded app,
and timed set-based SQL for generating data at scale."""

from __future__ import annotations

import os
import time


def reset_database(url: str) -> None:
    """Create the database if needed and empty its public schema."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")


def timed_sql(conn, label: str, sql: str, **params) -> None:
    from sqlalchemy import text

    t = time.perf_counter()
    conn.execute(text(sql), params)
    conn.commit()
    print(f"  {label}: {time.perf_counter() - t:.1f} s", flush=True)


def seeded_app(url: str, instance_path: str):
    """A fresh, migrated database with the demo org, staff and products; returns the app."""
    reset_database(url)
    os.environ.setdefault("PORTAL_INSTANCE_PATH", instance_path)
    from flask_migrate import upgrade

    from portal import create_app
    from portal.cli import DEMO_PASSWORD

    over = {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False}
    with create_app(over).app_context():
        upgrade()
    app = create_app(over)  # sees the migrated schema: permissions and roles
    with app.app_context():
        from portal.demo import seed_demo
        from portal.whitelist_demo import seed_products

        seed_demo(customers=100, password=DEMO_PASSWORD)
        seed_products()
    return app
