"""Fixtures for the jobs & integrations tests: the sandbox peer as a real HTTP process,
worker and cron subprocesses on the test database and Redis, and a drain helper."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADAPTER_KEYS = ("SMS_GATEWAY_URL", "CORE_BANKING_URL", "MOBILE_BANKING_URL", "CREDIT_BUREAU_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Sandbox:
    """Handle on the sandbox peer process: configure misbehaviour, read its counters."""

    def __init__(self, url: str, proc: subprocess.Popen) -> None:
        self.url, self.proc = url, proc

    def reset(self) -> None:
        httpx.post(f"{self.url}/_sandbox/reset", timeout=5).raise_for_status()

    def configure(self, **systems) -> None:
        httpx.post(f"{self.url}/_sandbox/config", json=systems, timeout=5).raise_for_status()

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/_sandbox/stats", timeout=5).json()


def base_env(app, **extra) -> dict[str, str]:
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": app.instance_path,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "SANDBOX_URL": app.config.get("SMS_GATEWAY_URL", ""),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PORTAL_ENV", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


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

    from models.jobs import IntegrationCursor

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


def child_pids(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def rq_worker_pids(connection, proc: subprocess.Popen) -> set[int]:
    """The live RQ workers a spawned `portal worker` runs: its children (or itself)."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    workers = Worker.all(connection=connection, serializer=JSONSerializer)
    mine = {proc.pid, *child_pids(proc.pid)} if proc.poll() is None else set()
    return {w.pid for w in workers} & mine


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def drain(app, timeout: float = 30) -> dict[str, int]:
    """Dispatch and run a burst worker in-process until no item is pending or in flight."""
    from jobs.worker import run_worker
    from portal import outbox
    from portal.extensions import db

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # what `portal cron` does: the reconciler re-queues an item whose RQ job is gone
        outbox.reconcile(grace_seconds=2)
        outbox.dispatch()
        run_worker(app, burst=True)
        counts = outbox.counts_by_state(db.session)
        db.session.rollback()
        if not any(counts.get(s) for s in ("pending", "enqueued", "running")):
            return counts
        time.sleep(0.05)
    raise AssertionError(f"outbox did not drain: {counts}")


@pytest.fixture(scope="session", autouse=True)
def sms_templates(app):
    """The standard SMS templates `portal demo` seeds."""
    from portal.sms_seed import seed_templates

    with app.app_context():
        seed_templates()
