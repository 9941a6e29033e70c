"""Fault tests with real processes: a worker killed with SIGKILL mid-call, Redis restarted
empty mid-work, a supervised worker killed and restarted. The sandbox counts the external
effects."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import delete, func, select

from models.background import OutboxItem
from models.customers import Customer
from models.sms.messages import SmsMessage
from portal.background import outbox
from portal.core.redis_conn import redis_server_binary
from portal.sms import messages as sms
from tests.support.processes import child_pids, rq_worker_pids, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]

FAST = {
    "OUTBOX_DISPATCH_INTERVAL": 1,
    "OUTBOX_RECONCILE_INTERVAL": 1,
    "OUTBOX_BACKOFF_BASE": 0.2,
    "OUTBOX_BACKOFF_MAX": 2,
    "CRON_CATCHUP_HOURS": 0,
    "HEARTBEAT_INTERVAL": 60,
    "SMS_RECEIPT_INTERVAL": 60,
}


@pytest.fixture(autouse=True)
def clean(db):
    db.session.execute(delete(OutboxItem))
    db.session.execute(delete(SmsMessage))
    db.session.commit()
    yield


def states(db) -> dict[str, int]:
    counts = outbox.counts_by_state(db.session)
    db.session.rollback()
    return counts


def test_worker_killed_mid_call_effect_happens_exactly_once(app, db, sandbox, spawn):
    """SIGKILL while the core call is in flight: the line opens once, the retry asks the core
    for the key's outcome instead of opening again."""
    sandbox.configure(core={"latency_ms": 1500})
    outbox.add(
        db.session,
        "core.open_credit_line",
        "kill9:line:1",
        payload={"line_id": 1, "amount": "30000.00"},
    )
    db.session.commit()
    env = {**FAST, "OUTBOX_LEASE_SECONDS": 5}
    victim = spawn("worker", "--queue", "integrations", "--queue", "default", env=env)
    spawn("cron", env=env)
    wait_for(lambda: sandbox.stats()["calls"].get("core.credit-lines"), 30, "call in flight")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    spawn("worker", "--queue", "integrations", "--queue", "default", env=env)
    wait_for(lambda: states(db) == {"done": 1}, 45, "recovery after lease expiry")
    stats = sandbox.stats()
    assert stats["effects_by_op"] == {"core.credit-lines": 1}
    assert stats["calls"]["core.credit-lines"] == 1  # never re-sent: the status query answered
    assert stats["calls"]["core.status"] >= 1
    item = db.session.scalar(select(OutboxItem))
    assert item.attempts == 2 and item.result["recovered"] is True


@pytest.fixture()
def private_redis(tmp_path):
    """A redis-server of our own, so the test may kill and restart it empty."""
    sock = tmp_path / "r.sock"

    def start():
        proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        conn = redis.Redis(unix_socket_path=str(sock))
        wait_for(lambda: _ping(conn), 10, "redis-server")
        return proc, conn

    handle = {"proc": None}

    def stop():
        handle["proc"].kill()
        handle["proc"].wait()

    def start_empty():
        handle["proc"], handle["conn"] = start()

    def restart_empty():
        stop()
        start_empty()

    handle["proc"], handle["conn"] = start()
    handle["url"] = f"unix://{sock}"
    handle["stop"] = stop
    handle["start_empty"] = start_empty
    handle["restart_empty"] = restart_empty
    yield handle
    handle["proc"].kill()


def _ping(conn) -> bool:
    try:
        return conn.ping()
    except Exception:
        return False


def test_redis_restarted_empty_mid_work_loses_nothing(app, db, sandbox, spawn, private_redis):
    """300 SMS in flight; Redis dies and comes back empty; the reconciler re-queues every
    stranded item and each message reaches the gateway exactly once."""
    sandbox.configure(sms={"latency_ms": 400})
    ids = list(db.session.scalars(select(Customer.id).order_by(Customer.id).limit(300)))
    sms.queue_to_customers(
        db.session,
        "line_opened",
        ids,
        {"product": "消费易", "limit": "1"},
        key_prefix="redis-restart",
    )
    db.session.commit()
    env = {
        **FAST,
        "REDIS_URL": private_redis["url"],
        "OUTBOX_BATCH_SIZE": 10,
        "OUTBOX_LEASE_SECONDS": 10,
    }
    spawn("cron", env=env)
    spawn("worker", "--queue", "sms", "--queue", "default", env=env)
    wait_for(lambda: 0 < states(db).get("done", 0) < 150, 60, "work under way")
    queued = private_redis["conn"].keys("rq:job:*")
    assert queued  # jobs in Redis that the restart is about to lose
    private_redis["restart_empty"]()
    # the old jobs are gone (job ids are random: re-enqueued work gets new ones); the worker
    # and cron may already have written their own keys again, so dbsize() is not a test
    assert private_redis["conn"].exists(*queued) == 0
    wait_for(lambda: states(db) == {"done": 300}, 90, "every item done after the restart")
    stats = sandbox.stats()
    assert stats["effects"]["sms"] == 300 and stats["keys"] == 300
    sent = db.session.scalar(
        select(func.count()).select_from(SmsMessage).where(SmsMessage.state == "sent")
    )
    assert sent == 300


def test_worker_outlives_redis_down_while_a_job_runs(app, spawn, private_redis):
    """Redis goes away while a job runs and stays away past the job's end, so the worker's
    bookkeeping after the job fails (RQ then leaves its work loop); the worker process must
    carry on with a fresh RQ worker once Redis is back, not exit."""
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    from rq.serializers import JSONSerializer

    def queue() -> Queue:
        conn = Redis(unix_socket_path=private_redis["url"].removeprefix("unix://"))
        return Queue("default", connection=conn, serializer=JSONSerializer)

    worker = spawn("worker", "--queue", "default", env={**FAST, "REDIS_URL": private_redis["url"]})
    first = queue().enqueue("time.sleep", 3)
    wait_for(lambda: first.get_status(refresh=True) == "started", 30, "the first job running")
    private_redis["stop"]()
    time.sleep(8)  # the job ends while Redis is down; the worker's retries run out
    private_redis["start_empty"]()
    second = queue().enqueue("time.sleep", 0)
    wait_for(
        lambda: (
            Job.fetch(
                second.id, connection=second.connection, serializer=JSONSerializer
            ).get_status()
            == "finished"
        ),
        60,
        "a job enqueued after Redis came back to run",
    )
    assert worker.poll() is None  # still the same worker process


def test_idle_worker_stops_on_sigterm(app, spawn, private_redis):
    """SIGTERM to an idle worker ends the process (RQ's idle stop leaves no `_stop_requested`
    flag: the worker must not take it for an error and start a fresh RQ worker)."""
    from rq import Worker

    worker = spawn("worker", "--queue", "default", env={**FAST, "REDIS_URL": private_redis["url"]})
    wait_for(lambda: Worker.all(connection=private_redis["conn"]), 30, "the worker registered")
    time.sleep(0.5)  # idle in its dequeue
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0


def test_supervised_worker_killed_by_sigkill_is_restarted(app, spawn, private_redis):
    """`portal worker` runs the RQ worker as its child and starts a new one when it dies (a
    worker aborted by a hostile file, the OOM killer): jobs enqueued afterwards still run."""
    from rq import Queue
    from rq.job import Job
    from rq.serializers import JSONSerializer

    conn = private_redis["conn"]
    supervisor = spawn(
        "worker", "--queue", "default", env={**FAST, "REDIS_URL": private_redis["url"]}
    )

    (victim,) = wait_for(lambda: rq_worker_pids(conn, supervisor), 30, "the RQ worker")
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: rq_worker_pids(conn, supervisor) - {victim}, 30, "a restarted RQ worker")
    job = Queue("default", connection=conn, serializer=JSONSerializer).enqueue("time.sleep", 0)
    wait_for(
        lambda: (
            Job.fetch(job.id, connection=conn, serializer=JSONSerializer).get_status() == "finished"
        ),
        30,
        "a job enqueued after the restart to run",
    )
    assert supervisor.poll() is None  # the same `portal worker`
    supervisor.send_signal(signal.SIGTERM)  # and a stop request still stops it
    assert supervisor.wait(timeout=15) == 0
    assert not child_pids(supervisor.pid)
