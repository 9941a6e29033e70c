"""Benchmark: signed applications/s through the channel API under gunicorn, and the time from
submission to the account manager's SMS being accepted by the (sandbox) gateway.

    python -m bench.intake --seconds 30 [--concurrency 8] [--web-workers 4] [--rq-workers 1]

Runs on PostgreSQL (``--database-url``, default a throw-away ``portal_bench`` database on
127.0.0.1, whose public schema is dropped and recreated) and Redis (``REDIS_URL``, else the
embedded one), with real gunicorn, sandbox and ``portal worker`` processes. Each request
is a realistic, freshly signed submit for a distinct whitelisted customer (80% with their
own account manager, 20% assigned by load). The last line printed is one JSON object:
apps_per_s, p50_ms, p95_ms, p99_ms, sms_p95_s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from bench.machine import cpu_probe_ms
from bench.support import free_port, reset_database, wait_http

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgresql://postgres@127.0.0.1:5432/portal_bench"
APPS = {"channel": "portal.channel_app:create_channel_app()", "portal": "portal:create_app()"}


def _cpu_by_kind(children: dict[int, str]) -> dict[str, float]:
    """User + system CPU seconds so far of each process kind (from /proc; Linux only):
    our children and their children by name, PostgreSQL's backends, this process."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) / tick)
    total: dict[str, float] = {}
    for pid, (ppid, cmd, cpu) in stats.items():
        if pid == os.getpid():
            kind = "load generator"
        elif cmd.startswith(b"postgres"):
            kind = "postgresql"
        else:
            kind = children.get(pid) or children.get(ppid)
        if kind:
            total[kind] = total.get(kind, 0.0) + cpu
    return total


def seed_offers(count: int) -> list[dict]:
    """`count` customers of I01-I03 with one active offer each (Core bulk inserts)."""
    from sqlalchemy import insert, select
    from stdnum.cn import ric

    from models.access.org import OrgUnit
    from models.access.staff import StaffUser
    from models.customers import Customer
    from models.whitelist import Offer, Product
    from portal.access.permissions import ROLE_ACCOUNT_MANAGER
    from portal.core.extensions import db

    session = db.session
    branches = session.scalars(select(OrgUnit).where(OrgUnit.kind == "branch")).all()
    managers: dict[int, list[int]] = {}
    for u in session.scalars(select(StaffUser)):
        if any(r.name == ROLE_ACCOUNT_MANAGER for r in u.roles):
            managers.setdefault(u.org_unit_id, []).append(u.id)
    products = {
        p.institution_id: p.id
        for p in session.scalars(select(Product).where(Product.code == "XFY"))
    }
    people, day0 = [], dt.date(1970, 1, 1)
    for i in range(count):
        birth = day0 + dt.timedelta(days=i // 900)
        body = f"440103{birth:%Y%m%d}{i % 900 + 100:03d}"
        branch = branches[i % len(branches)]
        own = managers[branch.id][i % 2] if i % 5 else None
        people.append(
            {
                "id_number": body + ric.calc_check_digit(body + "0"),
                "name": "压测客户",
                "mobile": f"13{700000000 + i:09d}",
                "branch_id": branch.id,
                "institution_id": branch.institution_id,
                "manager_id": own,
            }
        )
    for i in range(0, count, 5000):
        session.execute(insert(Customer), people[i : i + 5000])
    ids = session.execute(
        select(Customer.id, Customer.id_number).where(Customer.name == "压测客户")
    ).all()
    by_number = {n: cid for cid, n in ids}
    now = dt.datetime.now()
    offers = [
        {
            "customer_id": by_number[p["id_number"]],
            "product_id": products[p["institution_id"]],
            "branch_id": p["branch_id"],
            "institution_id": p["institution_id"],
            "manager_id": p["manager_id"],
            "limit_amount": Decimal("50000"),
            "rate": Decimal("6.5"),
            "expiry_date": dt.date.today() + dt.timedelta(days=90),
            "status": "active",
            "version": 1,
            "synced_version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for p in people
    ]
    for i in range(0, count, 5000):
        session.execute(insert(Offer), offers[i : i + 5000])
    session.commit()
    rows = session.execute(
        select(Offer.id, Customer.id_number, Customer.mobile)
        .join(Customer, Customer.id == Offer.customer_id)
        .where(Customer.name == "压测客户")
    ).all()
    return [{"offer_id": o, "id_number": n, "mobile": m, "limit": "50000"} for o, n, m in rows]


def _request_bytes(host: str, key_id: str, secret: str, offer: dict) -> bytes:
    """One signed submit as mobile banking sends it, as raw HTTP/1.1 bytes."""
    from portal.channel.keys import sign
    from portal.sandbox.mbank_client import PREFIX, application_body

    path = PREFIX + "/applications"
    body = json.dumps(application_body(offer), ensure_ascii=False).encode()
    ts, nonce = str(int(time.time())), secrets.token_hex(12)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Api-Key: {key_id}\r\nX-Timestamp: {ts}\r\n"
        f"X-Nonce: {nonce}\r\nX-Signature: {sign(secret, 'POST', path, ts, nonce, body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


def _post(address: tuple[str, int], payload: bytes) -> tuple[int, bytes]:
    """Send one request on a new connection (gunicorn's sync workers close each one)."""
    import socket

    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    return int(raw[9:12]), raw.partition(b"\r\n\r\n")[2]


def drive(
    url: str,
    key_id: str,
    secret: str,
    offers: list[dict],
    seconds: float,
    concurrency: int,
    warmup: float,
) -> dict:
    """Closed loop: `concurrency` threads submit back to back; latencies after warm-up.

    The client is deliberately lean (a signed body built per request, one plain socket
    per request, status and body read back) so that the load generator, which shares
    this machine's cores with the portal, takes as little of them as it can; the
    requests are the ones `portal.sandbox.mbank_client` sends.
    """
    lock = threading.Lock()
    pool = iter(offers)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    samples: dict[int, str] = {}
    host = url.split("://", 1)[1]
    address = (host.rsplit(":", 1)[0], int(host.rsplit(":", 1)[1]))
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    def worker():
        while True:
            with lock:
                offer = next(pool, None)
            now = time.monotonic()
            if offer is None or now >= stop_at:
                return
            payload = _request_bytes(host, key_id, secret, offer)
            t0 = time.monotonic()
            try:
                code, body = _post(address, payload)
                if code != 201 and code not in samples:
                    samples[code] = body[:200].decode(errors="replace")
            except (OSError, ValueError) as exc:
                code = 599
                samples.setdefault(code, repr(exc)[:200])
            t1 = time.monotonic()
            if t0 >= measure_from:
                with lock:
                    latencies.append(t1 - t0)
                    statuses[code] = statuses.get(code, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = statuses.get(201, 0)
    lat = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1)

    return {
        "apps_per_s": round(ok / seconds, 1),
        "requests": len(latencies),
        "statuses": statuses,
        "samples": samples,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.mean(lat) * 1000, 1),
    }


def sms_latencies(timeout: float = 60) -> list[float]:
    """Seconds from submission to the manager's SMS accepted by the gateway, per application."""
    from sqlalchemy import func, select

    from models.applications import Application
    from models.background import OutboxItem
    from models.sms.messages import SmsMessage
    from portal.core.extensions import db

    s = db.session
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = s.scalar(
            select(func.count())
            .select_from(OutboxItem)
            .where(OutboxItem.kind == "sms.send", OutboxItem.state != "done")
        )
        s.rollback()
        if not pending:
            break
        time.sleep(0.5)
    offset = dt.datetime.now() - dt.datetime.now(dt.UTC).replace(tzinfo=None)  # sent_at is UTC
    rows = s.execute(
        select(OutboxItem.idempotency_key, SmsMessage.sent_at)
        .join(SmsMessage, SmsMessage.id == OutboxItem.ref_id)
        .where(OutboxItem.kind == "sms.send", OutboxItem.idempotency_key.like("sms:assign:%"))
    ).all()
    submitted = dict(s.execute(select(Application.id, Application.submitted_at)).all())
    out = []
    for key, sent_at in rows:
        app_id = int(key.split(":")[2])
        if sent_at is not None and app_id in submitted:
            out.append((sent_at + offset - submitted[app_id]).total_seconds())
    return sorted(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--rq-workers", type=int, default=1)
    parser.add_argument(
        "--worker-class",
        choices=("sync", "gthread"),
        default="sync",
        help="gunicorn worker class (gthread keeps client connections alive)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument(
        "--app",
        choices=("channel", "portal"),
        default="channel",
        help="channel: the channel API's own deployment (portal.channel_app); "
        "portal: the staff portal, which serves the same API",
    )
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--offers", type=int, default=0, help="default: enough for 800/s")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    sandbox_port, web_port = free_port(), free_port()
    reset_database(args.database_url)
    os.environ.update(
        {
            "PORTAL_INSTANCE_PATH": str(instance),
            "SANDBOX_URL": f"http://127.0.0.1:{sandbox_port}",
            "DATABASE_URL": args.database_url,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
            "OUTBOX_BACKOFF_BASE": "0.5",
        }
    )
    from flask_migrate import upgrade

    from portal import create_app

    with create_app().app_context():
        upgrade()
    app = create_app()
    with app.app_context():
        from portal.access.roles import converge_roles
        from portal.channel import keys as channel_keys
        from portal.core.extensions import db
        from portal.demo.seed import seed_demo
        from portal.demo.whitelist import seed_products
        from portal.sms.standard_templates import seed_templates

        converge_roles(app.appbuilder.sm)
        seed_demo(customers=100)
        seed_templates()
        seed_products()
        need = args.offers or int(800 * (args.seconds + args.warmup)) + 1000
        t0 = time.monotonic()
        offers = seed_offers(need)
        key, secret = channel_keys.issue(db.session, "mbank", None, "bench")
        key_id = key.key_id
        db.session.commit()
        print(f"seeded {len(offers)} offers in {time.monotonic() - t0:.1f}s", flush=True)
    env = {
        **os.environ,
        "REDIS_URL": app.config["REDIS_URL"],
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "PYTHONUNBUFFERED": "1",
    }
    log = open(instance / "children.log", "wb")  # noqa: SIM115
    run = dict(env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    exe = [sys.executable, "-m", "portal.cli"]
    children = [subprocess.Popen([*exe, "sandbox", "--port", str(sandbox_port)], **run)]
    children += [subprocess.Popen([*exe, "worker"], **run) for _ in range(args.rq_workers)]
    children.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(args.web_workers),
                "-b",
                f"127.0.0.1:{web_port}",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
                "--worker-class",
                args.worker_class,
                "--threads",
                str(args.threads),
                APPS[args.app],
            ],
            **run,
        )
    )
    url = f"http://127.0.0.1:{web_port}"
    try:
        wait_http(f"http://127.0.0.1:{sandbox_port}/")
        wait_http(url + "/api/channel/v1/openapi.json")
        kinds = {children[0].pid: "sandbox", children[-1].pid: "web (gunicorn)"}
        kinds.update({c.pid: "rq worker" for c in children[1:-1]})
        probe = [cpu_probe_ms()]
        cpu0, wall0 = _cpu_by_kind(kinds), time.monotonic()
        result = drive(url, key_id, secret, offers, args.seconds, args.concurrency, args.warmup)
        cpu1 = _cpu_by_kind(kinds)
        probe.append(cpu_probe_ms())
        served = sum(result["statuses"].values()) * (time.monotonic() - wall0) / args.seconds
        per = {k: round((cpu1[k] - cpu0.get(k, 0.0)) / max(served, 1) * 1000, 2) for k in cpu1}
        result["cpu_ms_per_request"] = per
        result["web_cpu_ms_per_request"] = per.get("web (gunicorn)", 0.0)
        with app.app_context():
            sms = sms_latencies()
        result["sms_count"] = len(sms)
        result["sms_p50_s"] = round(sms[len(sms) // 2], 2) if sms else None
        result["sms_p95_s"] = (
            round(sms[min(len(sms) - 1, int(0.95 * len(sms)))], 2) if sms else None
        )
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    print(
        f"{result['requests']} requests in {args.seconds:.0f}s (after {args.warmup:.0f}s warm-up), "
        f"concurrency {args.concurrency}, gunicorn {args.web_workers} {args.worker_class} workers"
        f" × {args.threads} threads, statuses "
        f"{result['statuses']} {result['samples'] or ''}; web CPU "
        f"{result['web_cpu_ms_per_request']} ms/request; CPU ms per request by process "
        f"{result['cpu_ms_per_request']}; SMS accepted for {result['sms_count']} applications;"
        f" CPU probe before/after {probe[0]}/{probe[1]} ms (bench.machine: lower is faster)"
    )
    keys = ("apps_per_s", "p50_ms", "p95_ms", "p99_ms", "sms_p95_s")
    print(json.dumps({**{k: result[k] for k in keys}, "cpu_probe_ms": round(sum(probe) / 2, 1)}))


if __name__ == "__main__":
    main()
