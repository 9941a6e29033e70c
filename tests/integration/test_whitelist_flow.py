"""Whitelist after the import: end-of-day batch, mobile-banking sync through the outbox and the
sandbox, two-phase campaign SMS exactly once under duplicate schedulers, and a worker killed
in the middle of an import (nothing merged; the import re-runs)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time

import pytest
from sqlalchemy import delete, func, select, update

from models.campaign import Campaign, CampaignMember, CampaignRun
from models.jobs import IntegrationCursor, OutboxItem
from models.sms import SmsMessage
from models.staff import StaffUser
from models.whitelist import EodRun, Offer, OfferHistory, OfferSyncBatch, WhitelistImport
from portal import campaigns, offer_sync, offers, schedules
from portal import whitelist_import as svc
from portal.whitelist_demo import seed_products
from portal.whitelist_sample import rows as sample_rows
from portal.whitelist_sample import write_workbook
from tests.integration.conftest import drain

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
    from jobs.cron import schedule_by_name

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
                from portal.extensions import db as _db

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
    from portal import sms

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
    # the worker reads every file in a second process (as it does a large one)
    worker = spawn(
        "worker",
        env={"WHITELIST_TEST_COMMIT_DELAY": "30", "WHITELIST_READER_PROCESS_MIN_BYTES": "0"},
    )
    deadline = time.monotonic() + 60
    from portal.whitelist_progress import get_progress

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
