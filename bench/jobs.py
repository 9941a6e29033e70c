"""Benchmark: raw RQ no-op jobs/s vs SMS/s end to end (outbox → worker → sandbox gateway).

    python -m bench.jobs --messages 100000 [--workers 2] [--raw-jobs 3000]

Uses a throw-away instance folder (SQLite unless DATABASE_URL is set, embedded Redis
unless REDIS_URL is set), a real sandbox process and real `portal worker` processes.
The last line printed is one JSON object: raw_rq_jobs_per_s, sms_per_s, ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.support import free_port, http_up

ROOT = Path(__file__).resolve().parent.parent


def noop() -> None:
    """The raw-RQ baseline job."""


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--raw-jobs", type=int, default=3000)
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    port = free_port()
    os.environ.update(
        {"PORTAL_INSTANCE_PATH": str(instance), "SANDBOX_URL": f"http://127.0.0.1:{port}"}
    )
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app()
    with app.app_context():
        upgrade()
    env = {
        **os.environ,
        "REDIS_URL": app.config["REDIS_URL"],
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "PYTHONUNBUFFERED": "1",
    }
    exe = [sys.executable, "-m", "portal.cli"]
    log = open(instance / "children.log", "wb")  # noqa: SIM115
    children = [
        subprocess.Popen(
            [*exe, "sandbox", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    ]
    try:
        _wait(lambda: http_up(f"http://127.0.0.1:{port}/"), 30)
        raw = _raw_rq(app, exe, env, log, children, args.raw_jobs)
        sms_rate = _sms(app, exe, env, log, children, args.messages, args.workers, port)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    print(
        json.dumps(
            {
                "raw_rq_jobs_per_s": round(raw, 1),
                "sms_per_s": round(sms_rate, 1),
                "ratio": round(sms_rate / raw, 2),
            }
        )
    )


def _raw_rq(app, exe, env, log, children, n: int) -> float:
    """No-op jobs/s through one worker (SimpleWorker in an app context, as in production)."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    conn = app.extensions["redis"]
    queue = Queue("batch", connection=conn, serializer=JSONSerializer)
    worker = subprocess.Popen(
        [*exe, "worker", "--queue", "batch"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    children.append(worker)
    _wait(lambda: any(b"rq:worker:" in k for k in conn.keys("rq:worker:*")), 60)
    start = time.perf_counter()
    for i in range(0, n, 1000):
        queue.enqueue_many(
            [Queue.prepare_data("bench.jobs.noop", result_ttl=60) for _ in range(min(1000, n - i))]
        )
    _wait(lambda: queue.finished_job_registry.count >= n, 600)
    rate = n / (time.perf_counter() - start)
    print(f"raw RQ: {n} no-op jobs, 1 worker: {rate:.0f} jobs/s")
    worker.send_signal(signal.SIGTERM)
    return rate


def _sms(app, exe, env, log, children, n: int, workers: int, port: int) -> float:
    """Messages/s from queueing a campaign to every message accepted by the gateway."""
    from portal.background import outbox
    from portal.core.extensions import db
    from portal.sms import messages as sms
    from portal.sms.standard_templates import seed_templates

    for _ in range(workers):
        children.append(
            subprocess.Popen(
                [*exe, "worker", "--queue", "sms"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    with app.app_context():
        seed_templates()
        tpl = sms.get_template(db.session, "line_opened")
        recipients = [
            {
                "mobile": f"139{i:08d}",
                "values": {"customer_name": "客户", "product": "消费易", "limit": "10,000"},
            }
            for i in range(n)
        ]
        time.sleep(3)  # workers up
        start = time.perf_counter()
        for i in range(0, n, 10_000):
            sms.queue_bulk(db.session, tpl, recipients[i : i + 10_000])
            db.session.commit()
        queued = time.perf_counter() - start
        jobs = outbox.dispatch()
        dispatched = time.perf_counter() - start
    stats_url = f"http://127.0.0.1:{port}/_sandbox/stats"

    def arrived() -> bool:
        if httpx.get(stats_url).json()["effects"].get("sms", 0) >= n:
            return True
        with app.app_context():  # retries (e.g. 429 over capacity) come due: dispatch them
            outbox.dispatch()
        time.sleep(0.2)
        return False

    _wait(arrived, 1800)
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    print(
        f"SMS: {n} messages, {workers} workers: queued (outbox) in {queued:.1f}s, "
        f"dispatched {jobs} items by {dispatched:.1f}s, all at the gateway after "
        f"{elapsed:.1f}s → {rate:.0f} msg/s"
    )
    return rate


if __name__ == "__main__":
    main()
