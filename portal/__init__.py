"""Credit Portal (信贷工作台): the application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Flask is imported where an app is built (the package stays light to import)
    from flask import Flask


ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(config: Any = None) -> Flask:
    """Build the app: config → database → Redis → AppBuilder → views → security."""
    app = base_app(config)
    from portal.core import form_input

    form_input.install(app)  # before any form class is used: every form's text and choices
    init_appbuilder(app)
    from portal.access.http_security import init_web_security

    init_web_security(app)
    from portal.core.errors import init_errors

    init_errors(app)
    from portal.cli import register_commands

    register_commands(app)
    return app


def base_app(config: Any = None) -> Flask:
    """What every face of the portal shares: config, log redaction, adapters, database, Redis.

    The staff portal (`create_app`) adds Flask-AppBuilder on top; the channel API's own
    deployment (`portal.channel_app`) adds only the signed API.
    """
    from flask import Flask

    app = Flask(
        "portal",
        root_path=str(ROOT),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        static_url_path="/static",
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(ROOT / "instance"),
    )
    init_config(app, config)
    from portal.core import log_redaction

    log_redaction.install()
    from portal.integrations import init_integrations

    init_integrations(app)
    init_database(app)
    from portal.core.redis_conn import init_redis

    init_redis(app)
    return app


def init_config(app: Flask, config: Any) -> None:
    from config import DEFAULT_SECRET, get_config

    overrides: dict[str, Any] = {}
    if config is None or isinstance(config, str):
        app.config.from_object(get_config(config))
    elif isinstance(config, dict):
        app.config.from_object(get_config(config.get("ENV_NAME")))
        overrides = config
    else:
        app.config.from_object(config)
    app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(
            Path(app.instance_path) / "portal.db"
        )
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        # psycopg 3 is the driver we ship
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + uri.split("://", 1)[1]
    if app.config.get("ENV_NAME") == "production":
        secret = app.config.get("SECRET_KEY")
        if not secret or secret == DEFAULT_SECRET or len(secret) < 32:
            raise RuntimeError(
                "Production needs SECRET_KEY set to a random value of 32+ characters"
            )
    from portal.access.passwords import validate_password

    app.config["FAB_PASSWORD_COMPLEXITY_VALIDATOR"] = validate_password
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "translations")


def init_database(app: Flask) -> None:
    from portal.core.extensions import db, migrate

    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    # a failed statement's message must not quote its parameters (ID numbers, names)
    options.setdefault("hide_parameters", True)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        options.setdefault("connect_args", {"timeout": 30})
    import models  # noqa: F401  (registers every table)
    from portal.access import audit, sessions

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    with app.app_context():
        _sqlite_pragmas(db.engine)
    audit.install(db.session)
    sessions.install(db.session)  # password, lock, deactivation, roles end the user's sessions


def _sqlite_pragmas(engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()


def schema_ready(app: Flask) -> bool:
    from portal.core.extensions import db

    with app.app_context():
        from sqlalchemy import inspect

        return inspect(db.engine).has_table("ab_permission_view") and inspect(db.engine).has_table(
            "customer"
        )


def init_appbuilder(app: Flask) -> None:
    from flask_appbuilder import AppBuilder

    from portal.core.extensions import csrf, db

    csrf.init_app(app)
    app.config["FAB_CREATE_DB"] = False  # Alembic owns the schema
    ready = schema_ready(app)
    app.config["FAB_UPDATE_PERMS"] = ready and app.config.get("FAB_UPDATE_PERMS", True)
    appbuilder = AppBuilder(update_perms=app.config["FAB_UPDATE_PERMS"])
    with app.app_context():
        if ready:
            from portal.access.roles import ensure_roles_exist

            ensure_roles_exist(db.session)
        appbuilder.init_app(app, db.session)
        # the JSON login API answers with a bearer token and sets no cookie: CSRF does not apply
        csrf.exempt(app.blueprints["SecurityApi"])
        from views import register_views

        register_views(appbuilder)
        if ready:
            from portal.access.roles import converge_roles

            converge_roles(appbuilder.sm)
