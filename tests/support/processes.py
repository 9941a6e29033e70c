"""Helpers of the jobs & integrations tests: free ports, the sandbox peer's handle, the
environment of worker and cron subprocesses, and draining the outbox in-process."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


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
    from jobs.background.worker import run_worker
    from portal.background import outbox
    from portal.core.extensions import db

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
