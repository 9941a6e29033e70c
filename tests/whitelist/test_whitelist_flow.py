"""Whitelist after the import: end-of-day batch, mobile-banking sync through the outbox and the
sandbox, two-phase campaign SMS exactly once under duplicate schedulers, a worker killed in
the middle of an import (nothing merged; the import fails by its lease and re-runs), and
hostile workbooks that reach a real worker without stopping it."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time

import pytest
from sqlalchemy import delete, func, select, update

from models.access.staff import StaffUser
from models.background import IntegrationCursor, OutboxItem
from models.sms.campaigns import Campaign, CampaignMember, CampaignRun
from models.sms.messages import SmsMessage
from models.whitelist import EodRun, Offer, OfferHistory, OfferSyncBatch, WhitelistImport
from portal.background import schedules
from portal.demo.whitelist import seed_products
from portal.sms import campaigns
from portal.sms import messages as sms
from portal.whitelist import importing as svc
from portal.whitelist import offer_sync, offers
from portal.whitelist.sample import rows as sample_rows
from portal.whitelist.sample import write_workbook
from tests.support.processes import drain, rq_worker_pids, wait_for
from tests.support.workbooks import far_cell_workbook

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]

PRODUCTS = [("XFY", 10000, 300000, 4.35, 18)]


def import_rows(db, tmp_path, n: int, seed: int, name: str = "flow.xlsx") -> WhitelistImport:
    seed_products()
    path = write_workbook(
        tmp_path / name, sample_rows(n, ["I01B01", "I01B02"], PRODUCTS, seed=seed)
    )
    user = db.session.scalars(select(StaffUser).where(StaffUser.username == "marketing1")).one()
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, user, fh, name, "valid_only", False, enqueue_job=False)
    svc.run_import(imp.id)
    db.session.refresh(imp)
    assert imp.status == "committed", imp.message
    return imp


@pytest.fixture()
def clean(db):
    for model in (CampaignMember, CampaignRun, Campaign, OutboxItem, SmsMessage, OfferSyncBatch):
        db.session.execute(delete(model))
    # the sandbox restarts its receipt sequence on reset: so does our cursor
    db.session.execute(delete(IntegrationCursor).where(IntegrationCursor.name == "sms.receipts"))
    db.session.execute(update(Offer).values(synced_version=Offer.version))  # earlier tests' offers
    db.session.commit()
    yield db


def test_end_of_day_batch_is_idempotent_per_business_date(db, clean, tmp_path):
    imp = import_rows(db, tmp_path, 6, seed=11, name="eod.xlsx")
    ids = db.session.scalars(select(Offer.id).where(Offer.import_id == imp.id)).all()
    yesterday = dt.date.today() - dt.timedelta(days=1)
    db.session.execute(update(Offer).where(Offer.id.in_(ids[:2])).values(expiry_date=yesterday))
    offers.mark_applied(db.session, ids[2])
    db.session.execute(update(Offer).where(Offer.id == ids[3]).values(applied_at=dt.datetime.now()))
    db.session.commit()
    today = dt.date.today()
    db.session.execute(delete(EodRun).where(EodRun.business_date == today))
    first = offers.end_of_day(db.session, today)
    assert first["expired"] >= 2 and first["applied"] >= 1
    version = {o.id: o.version for o in db.session.scalars(select(Offer).where(Offer.id.in_(ids)))}
    second = offers.end_of_day(db.session, today)
    assert second.get("skipped") == 1
    after = {o.id: o.version for o in db.session.scalars(select(Offer).where(Offer.id.in_(ids)))}
    assert after == version
    states = dict(db.session.execute(select(Offer.id, Offer.status).where(Offer.id.in_(ids))).all())
    assert states[ids[0]] == states[ids[1]] == "expired"
    assert states[ids[2]] == states[ids[3]] == "applied"
    with pytest.raises(offers.OfferError):
        offers.mark_applied(db.session, ids[0])


def test_delta_sync_reaches_mobile_banking_and_activates(app, db, clean, sandbox, tmp_path):
    app.config["WHITELIST_SYNC_BATCH"] = 4
    imp = import_rows(db, tmp_path, 10, seed=12, name="sync.xlsx")
    sandbox.configure(mbank={"failure_rate": 0.5})
    result = offer_sync.sync_delta(db.session)
    assert result == {"batches": 3, "offers": 10}
    assert offer_sync.sync_delta(db.session) == {"batches": 0, "offers": 0}  # nothing new
    sandbox.configure(mbank={"failure_rate": 0})
    drain(app, timeout=60)
    batches = db.session.scalars(select(OfferSyncBatch)).all()
    assert [b.status for b in batches] == ["done"] * 3
    statuses = set(db.session.scalars(select(Offer.status).where(Offer.import_id == imp.id)))
    assert statuses == {"active"}
    assert sandbox.stats()["effects_by_op"].get("mbank.offers") == 3
    offer = db.session.scalars(select(Offer).where(Offer.import_id == imp.id)).first()
    offers.revoke(db.session, offer, None, "客户风险变化")
    db.session.commit()
    assert offer_sync.sync_delta(db.session) == {"batches": 1, "offers": 1}


def test_campaign_sends_exactly_once_under_duplicate_schedulers(app, db, clean, sandbox, tmp_path):
    imp = import_rows(db, tmp_path, 12, seed=13, name="camp.xlsx")
    db.session.execute(update(Offer).where(Offer.import_id == imp.id).values(status="active"))
    inst = db.session.scalars(select(Offer.institution_id).where(Offer.import_id == imp.id)).first()
    db.session.add(Campaign(name="测试营销", institution_id=inst, template_code="offer_marketing"))
    db.session.commit()
    audience = db.session.scalar(
        select(func.count(func.distinct(Offer.customer_id))).where(
            Offer.institution_id == inst, Offer.status == "active", Offer.applied_at.is_(None)
        )
    )
    from jobs.background.cron import schedule_by_name

    schedule = schedule_by_name("campaign_tick")
    month = dt.date.today().replace(day=1)
    snap = dt.datetime(month.year, month.month, 4, 23, 0)
    send = dt.datetime(month.year, month.month, 5, 12, 0)
    app.config.update(SMS_QUIET_START="00:00", SMS_QUIET_END="00:00")
    errors: list[Exception] = []

    def scheduler(slot):  # one more cron process firing the same slot, or a catch-up
        with app.app_context():
            try:
                schedules.run_slot(schedule, slot)
                campaigns.tick(slot)  # a manual re-run on top of the ledger
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                from portal.core.extensions import db as _db

                _db.session.remove()

    for slot in (snap, send):
        threads = [threading.Thread(target=scheduler, args=(slot,)) for _ in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    campaigns.tick(send + dt.timedelta(hours=1))
    assert not errors, errors
    run = db.session.scalars(select(CampaignRun)).one()
    assert (run.status, run.audience) == ("sent", audience)
    drain(app, timeout=60)
    sms.poll_receipts()
    per_customer = db.session.execute(
        select(SmsMessage.customer_id, func.count()).group_by(SmsMessage.customer_id)
    ).all()
    assert len(per_customer) == audience and all(n == 1 for _c, n in per_customer)
    stats = sandbox.stats()
    assert stats["effects_by_op"].get("sms.send") == audience
    report = campaigns.report(db.session, run)
    assert report["audience"] == audience and report["sent"] == audience
    assert report["delivered"] + report["failed"] == audience


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_worker_killed_mid_import_merges_nothing_and_rerun_works(app, db, clean, spawn, tmp_path):
    seed_products()
    path = write_workbook(tmp_path / "kill.xlsx", sample_rows(300, ["I01B03"], PRODUCTS, seed=99))
    user = db.session.scalars(select(StaffUser).where(StaffUser.username == "marketing1")).one()
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, user, fh, "kill.xlsx", "valid_only", False)
    before = db.session.scalar(select(func.count()).select_from(Offer))
    worker = spawn("worker", env={"WHITELIST_TEST_COMMIT_DELAY": "30"})
    deadline = time.monotonic() + 60
    from portal.whitelist.progress import get_progress

    while get_progress(imp.id)["phase"] != "merging" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert get_progress(imp.id)["phase"] == "merging"
    time.sleep(1.0)  # inside the merge transaction, before its commit
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Offer)) == before
    assert (
        db.session.scalar(
            select(func.count()).select_from(OfferHistory).where(OfferHistory.import_id == imp.id)
        )
        == 0
    )
    db.session.refresh(imp)
    assert imp.status == "running"
    result = svc.run_import(imp.id)  # the re-run (what a requeue does)
    assert result["status"] == "committed" and result["offers_created"] == 300


def _marketer(db) -> StaffUser:
    return db.session.scalars(select(StaffUser).where(StaffUser.username == "marketing1")).one()


def _settled(db, imp: WhitelistImport, states=("committed", "rejected", "failed")) -> bool:
    db.session.refresh(imp)
    status = imp.status
    db.session.rollback()
    return status in states


def _rq_worker_pids(app, supervisor) -> set[int]:
    return rq_worker_pids(app.extensions["redis"], supervisor)


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_far_cell_workbooks_fail_cleanly_and_the_worker_carries_on(
    app, db, clean, sandbox, spawn, tmp_path, monkeypatch
):
    """Three ≈ 5 KB workbooks with one far cell (XFD1048576: ≈ 550 GB for the reader, which
    aborted the worker; Z1048576: ≈ 845 MB; XFD1048576 behind a <dimension> that lies) reach
    a real worker — the extent scans are off here, on both sides, as for sheets too large to
    scan — and each ends only its memory-capped reading process: the imports fail with a
    Chinese message, the same worker process then imports a good file and sends an SMS."""
    seed_products()
    monkeypatch.setitem(app.config, "WORKBOOK_EXTENT_SCAN_MAX_BYTES", 0)
    env = {
        "WORKBOOK_EXTENT_SCAN_MAX_BYTES": 0,
        "WORKBOOK_READER_MAX_MEMORY_MB": 512,
        "OUTBOX_DISPATCH_INTERVAL": 1,
        "CRON_CATCHUP_HOURS": 0,
    }
    supervisor = spawn("worker", env=env)
    spawn("cron", env=env)
    (rq_worker,) = wait_for(lambda: _rq_worker_pids(app, supervisor), 30, "the RQ worker")
    rows = list(sample_rows(2, ["I01B01"], PRODUCTS, seed=31))
    hostile = []
    for far_cell, dimension in (("XFD1048576", None), ("Z1048576", None), ("XFD1048576", "A1:I3")):
        path = far_cell_workbook(tmp_path, rows, far_cell, dimension)
        assert path.stat().st_size < 6000
        with path.open("rb") as fh:
            hostile.append(
                svc.submit(db.session, _marketer(db), fh, path.name, "valid_only", False)[0]
            )
    for imp in hostile:
        wait_for(lambda imp=imp: _settled(db, imp), 60, f"import {imp.id} to end")
        assert imp.status == "failed", imp.message
        assert "读取工作簿的进程异常终止" in imp.message and "512 MB" in imp.message
    good = write_workbook(tmp_path / "after.xlsx", sample_rows(5, ["I01B01"], PRODUCTS, seed=32))
    with good.open("rb") as fh:
        imp, _ = svc.submit(db.session, _marketer(db), fh, good.name, "valid_only", False)
    wait_for(lambda: _settled(db, imp), 60, "the good import to end")
    assert imp.status == "committed" and imp.offers_created == 5, imp.message
    customer = db.session.scalar(select(Offer.customer_id).where(Offer.import_id == imp.id))
    sms.queue_to_customers(
        db.session, "line_opened", [customer], {"product": "消费易", "limit": "1"}, key_prefix="far"
    )
    db.session.commit()

    def sent() -> bool:
        state = db.session.scalar(
            select(SmsMessage.state).where(SmsMessage.customer_id == customer)
        )
        db.session.rollback()
        return state == "sent"

    wait_for(sent, 60, "the SMS to be sent")
    assert sandbox.stats()["effects"]["sms"] >= 1
    assert _rq_worker_pids(app, supervisor) == {rq_worker}  # never died, never restarted


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_import_of_a_killed_worker_fails_by_its_lease(app, db, clean, spawn, tmp_path):
    """The RQ worker is killed in the middle of an import's merge: nothing is merged, the
    supervisor starts a new worker, and the import — left 处理中 by the dead process — is
    failed once its lease runs out (the sweep `portal cron` schedules); then it re-runs."""
    seed_products()
    path = write_workbook(tmp_path / "lease.xlsx", sample_rows(300, ["I01B03"], PRODUCTS, seed=98))
    with path.open("rb") as fh:
        imp, _ = svc.submit(db.session, _marketer(db), fh, "lease.xlsx", "valid_only", False)
    before = db.session.scalar(select(func.count()).select_from(Offer))
    lease = {"WHITELIST_IMPORT_HEARTBEAT_SECONDS": 1, "WHITELIST_IMPORT_LEASE_SECONDS": 4}
    # the import runs on one worker, the sweeps on another (while the first is busy)
    supervisor = spawn(
        "worker", "--queue", "batch", env={"WHITELIST_TEST_COMMIT_DELAY": 30, **lease}
    )
    spawn("worker", "--queue", "default", env=lease)
    spawn("cron", env={"WHITELIST_IMPORT_SWEEP_INTERVAL": 1, "CRON_CATCHUP_HOURS": 0, **lease})
    from portal.whitelist.progress import get_progress

    wait_for(lambda: get_progress(imp.id)["phase"] == "merging", 60, "the merge")
    # longer than the lease: the running import renews it (PostgreSQL), or its transaction
    # holds SQLite's write lock, for which the sweep waits like every writer
    time.sleep(6)
    assert _settled(db, imp, ("running",))
    (victim,) = _rq_worker_pids(app, supervisor)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: _settled(db, imp, ("failed",)), 60, "the lease to expire")
    assert "导入进程异常终止" in imp.message and "请重新上传" in imp.message
    assert db.session.scalar(select(func.count()).select_from(Offer)) == before
    restarted = lambda: _rq_worker_pids(app, supervisor) - {victim}  # noqa: E731
    wait_for(restarted, 30, "`portal worker` to restart its RQ worker")
    result = svc.run_import(imp.id)  # the re-run (what a requeue does)
    assert result["status"] == "committed" and result["offers_created"] == 300
