"""The `portal` command: demo, seeding, roles, users, worker, cron."""

from __future__ import annotations

import os
import signal
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

DEMO_PASSWORD = "Demo@2026"


def _create_app(*_args, **_kwargs):
    from portal import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """信贷工作台 Credit Portal."""


def register_commands(app) -> None:
    for cmd in (
        roles_cmd,
        create_user_cmd,
        seed_demo_cmd,
        worker_cmd,
        cron_cmd,
        sandbox_cmd,
        demo_cmd,
    ):
        app.cli.add_command(cmd)
    from portal.reports.cli import COMMANDS

    for cmd in COMMANDS:
        app.cli.add_command(cmd)


def _upgrade() -> None:
    from flask_migrate import upgrade

    upgrade()


@click.command("roles")
@with_appcontext
def roles_cmd() -> None:
    """Converge roles and permissions to portal/access/permissions.py."""
    from portal.access.roles import converge_roles

    for name, n in converge_roles(current_app.appbuilder.sm).items():
        click.echo(f"{name}: {n} permissions")


@click.command("create-user")
@click.option("--username", required=True)
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--org", "org_code", required=True, help="org unit code")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--email", default=None)
@click.option("--staff-no", default=None)
@click.password_option()
@with_appcontext
def create_user_cmd(
    username, roles, org_code, first_name, last_name, email, staff_no, password
) -> None:
    """Create a staff user on an org node with one or more roles."""
    from portal.access.passwords import password_problems
    from portal.access.staff import create_staff

    problems = password_problems(password)
    if problems:
        raise click.ClickException("密码不符合要求：" + "；".join(problems))
    user = create_staff(
        username=username,
        roles=list(roles),
        org_code=org_code,
        password=password,
        first_name=first_name or username,
        last_name=last_name or "",
        email=email,
        staff_no=staff_no,
    )
    click.echo(f"created user {user.username} (id {user.id})")


@click.command("seed-demo")
@click.option("--customers", default=5000, show_default=True)
@with_appcontext
def seed_demo_cmd(customers: int) -> None:
    """Migrate and load the demo data set (idempotent)."""
    _upgrade()
    # an app built after the migration registers its permissions and roles; the one this
    # command started with may have seen an empty database
    from portal import create_app

    with create_app().app_context():
        _seed(customers)


def _seed(customers: int) -> None:
    from portal.access.roles import converge_roles
    from portal.demo.seed import seed_demo

    converge_roles(current_app.appbuilder.sm)
    summary = seed_demo(customers=customers, password=DEMO_PASSWORD)
    from portal.sms.standard_templates import seed_templates

    summary["sms_templates_created"] = seed_templates()
    from portal.demo.whitelist import seed_whitelist_demo

    summary.update({f"whitelist_{k}": v for k, v in seed_whitelist_demo().items()})
    from portal.demo.approvals import seed_policies

    summary["approval_policies_created"] = seed_policies()
    from portal.channel.keys import ensure_key
    from portal.core.extensions import db
    from portal.sandbox.mbank_client import DEMO_KEY_ID, DEMO_SECRET

    # the sandbox's mobile banking signs with this demo key (python -m portal.sandbox.mbank_client)
    summary["channel_demo_key"] = ensure_key(
        db.session, "mbank", DEMO_KEY_ID, DEMO_SECRET, "沙箱演示"
    )
    from portal.demo.reports import seed_report_demo

    summary.update(seed_report_demo())
    click.echo("demo data: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


def _seed_ods(app) -> None:
    """Demo holdings in the sandbox data warehouse, keyed by the customers' ID numbers."""
    from sqlalchemy import select

    from models.customers import Customer
    from portal.core.extensions import db
    from portal.integrations.ods import default_ods_path
    from portal.sandbox.ods_seed import seed_holdings

    with app.app_context():
        certs = db.session.scalars(select(Customer.id_number)).all()
        n = seed_holdings(default_ods_path(app), certs)
    click.echo(f"sandbox data warehouse: {n} holdings")


@click.command("worker")
@click.option("--queue", "queues", multiple=True, help="queue names (default: all)")
@click.option("--burst", is_flag=True, help="exit when the queues are empty")
@click.option(
    "--no-supervise",
    is_flag=True,
    help="run the RQ worker in this process (default: in a child, restarted if it dies)",
)
def worker_cmd(queues, burst, no_supervise) -> None:
    """Run an RQ worker inside the app, restarted with backoff if its process dies."""
    if burst or no_supervise:
        from jobs.background.worker import run_worker

        _die_with_supervisor()
        run_worker(current_app._get_current_object(), list(queues) or None, burst=burst)
        return
    from jobs.background.supervisor import Supervisor

    argv = [*_PORTAL, "worker", "--no-supervise"]
    for q in queues:
        argv += ["--queue", q]
    supervisor = Supervisor(
        "worker", argv, max_backoff=current_app.config["WORKER_RESTART_MAX_BACKOFF"]
    )
    code = supervisor.run_in_foreground()
    sys.exit(code if code >= 0 else 128 - code)


_PORTAL = [sys.executable, "-m", "portal.cli"]


def _die_with_supervisor() -> None:
    """A supervised process ends with its supervisor (jobs.background.supervisor)."""
    from jobs.background.supervisor import PARENT_ENV

    parent = os.environ.pop(PARENT_ENV, None)
    if parent:
        from portal.core.child_process import die_with_parent

        die_with_parent(int(parent))


@click.command("cron")
def cron_cmd() -> None:
    """Run the RQ cron process with every schedule in jobs/background/cron.py."""
    from jobs.background.cron import run_cron

    _die_with_supervisor()

    run_cron(current_app._get_current_object())


@click.command("sandbox")
@click.option("--port", default=5050, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--sms-capacity", default=3000, show_default=True, help="gateway messages/s")
@click.option("--threads", default=32, show_default=True)
def sandbox_cmd(port: int, host: str, sms_capacity: int, threads: int) -> None:
    """Run the sandbox peer playing SMS gateway, core banking, mobile banking, bureau, ODS."""
    from waitress import serve

    from portal.integrations.ods import default_ods_path
    from portal.sandbox.app import create_sandbox_app
    from portal.sandbox.ods_seed import ensure_ods

    _die_with_supervisor()
    ensure_ods(default_ods_path(current_app)).dispose()
    click.echo(f"sandbox peer at http://{host}:{port}/ (SMS inbox: /sms/inbox)")
    serve(
        create_sandbox_app(sms_capacity),
        host=host,
        port=port,
        threads=threads,
        ident="sandbox",
        connection_limit=500,
    )


@click.command("demo")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--customers", default=5000, show_default=True)
def demo_cmd(port: int, host: str, customers: int) -> None:
    """Create/migrate the database, seed the demo, then run web + worker + cron until Ctrl-C."""
    app = current_app._get_current_object()
    with app.app_context():
        _upgrade()
    # a fresh app sees the migrated schema and registers permissions
    from portal import create_app

    app = create_app()
    with app.app_context():
        _seed(customers)
    _seed_ods(app)
    sandbox_url = app.config["SANDBOX_URL"]
    env = {
        **os.environ,
        "REDIS_URL": app.config["REDIS_URL"],
        "PORTAL_DEMO": "1",
        "SANDBOX_URL": sandbox_url,
    }
    from jobs.background.supervisor import Supervisor

    sandbox_port = sandbox_url.rstrip("/").rsplit(":", 1)[-1]
    backoff = app.config["WORKER_RESTART_MAX_BACKOFF"]
    # each restarted with backoff if it dies (the worker runs unsupervised: this is its supervisor)
    children = [
        Supervisor(name, [*_PORTAL, *args], env=env, max_backoff=backoff)
        for name, args in (
            ("sandbox", ["sandbox", "--port", sandbox_port]),
            ("worker", ["worker", "--no-supervise"]),
            ("cron", ["cron"]),
        )
    ]
    for child in children:
        child.start_thread()
    click.echo("")
    click.echo(f"信贷工作台 running at http://{host}:{port}/")
    click.echo(
        f"demo logins (password {DEMO_PASSWORD}): admin, inst_admin, marketing1, manager1, manager2, approver1, branch_mgr1, auditor1"
    )
    click.echo(f"sandbox peer (SMS inbox): {sandbox_url}/sms/inbox")
    click.echo("Ctrl-C to stop")

    def _stop(_signum, _frame):  # SIGTERM (kill, a service manager) stops the children too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        from waitress import serve

        serve(app, host=host, port=port, threads=8, ident="portal")
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.stop(signal.SIGINT)
        for child in children:
            child.stop_and_wait(signal.SIGINT, timeout=10)


if __name__ == "__main__":
    main()
