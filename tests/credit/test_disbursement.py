"""Disbursement (出账) against the sandbox core: one line per application however many
approval clicks, timeouts and 500s; exhausted attempts end in 出账失败 and a staff retry
finishes the same line; the customer's SMS reaches the sandbox inbox."""

from __future__ import annotations

import threading

import httpx
import pytest
from sqlalchemy import select

from models.applications import Application
from models.credit import Contract, CreditLine
from portal.access.scoping import scope_for
from portal.applications import lifecycle
from portal.approvals import case_queue as approval_queue
from portal.credit import disbursement
from tests.support.approvals import (
    approver_at,
    claim_and,
    clear_policies,
    in_approval,
    policy,
    settle_offers,
    user,
)
from tests.support.approvals import case as load_case
from tests.support.processes import drain

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]

TOP = "99999999"


@pytest.fixture(autouse=True)
def _policy(db):
    from sqlalchemy import delete

    from models.background import OutboxItem

    # items other tests announced but never drained would add their own core calls
    db.session.execute(delete(OutboxItem))
    db.session.commit()
    clear_policies()
    approver_at("I01B01", "approver1", "200000")
    policy(f"0-{TOP}: 网点 {TOP}")
    yield
    clear_policies()
    settle_offers()


def _state(db, app_id):
    db.session.expire_all()
    return db.session.get(Application, app_id).state


def test_twenty_parallel_approvals_one_core_call_and_sms(app, db, sandbox):
    cid = in_approval("30000")
    a1 = user("approver1")
    approval_queue.claim(db.session, cid, a1, scope_for(a1))
    uid, outcomes, barrier = a1.id, [], threading.Barrier(20)

    def click():
        with app.app_context():
            from models.access.staff import StaffUser
            from portal.approvals import decisions as approval_decision
            from portal.core.extensions import db as _db

            barrier.wait()
            try:
                me = _db.session.get(StaffUser, uid)
                outcomes.append(
                    approval_decision.approve(_db.session, cid, me, scope_for(me), "30000", "6.5")
                )
            except Exception as exc:  # noqa: BLE001
                outcomes.append(type(exc).__name__)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 1
    drain(app)
    app_id = load_case(cid).subject_id
    assert _state(db, app_id) == "active"
    stats = sandbox.stats()
    assert stats["calls"]["core.credit-lines"] == 1
    assert stats["effects_by_op"]["core.credit-lines"] == 1
    assert stats["effects_by_op"]["core.card-links"] == 1
    assert stats["effects_by_op"]["core.contracts"] == 1
    line = db.session.scalar(select(CreditLine).where(CreditLine.application_id == app_id))
    assert line.status == "active" and line.core_ref and line.card_link_ref
    assert db.session.scalar(select(Contract.status).where(Contract.application_id == app_id))
    inbox = httpx.get(f"{sandbox.url}/sms/inbox", timeout=5).text
    assert "额度30,000.00元已开通" in inbox


def test_core_timeouts_and_500s_open_one_line_each(app, db, sandbox):
    sandbox.configure(core={"failure_rate": 0.35, "timeout_rate": 0.35, "timeout_seconds": 0.6})
    saved = app.config["INTEGRATION_READ_TIMEOUT"], app.config["OUTBOX_MAX_ATTEMPTS"]
    app.config.update(INTEGRATION_READ_TIMEOUT=0.3, OUTBOX_MAX_ATTEMPTS=40)
    try:
        cases = [in_approval("20000") for _ in range(4)]
        for cid in cases:
            assert claim_and("approve", cid, user("approver1"), "20000", "6.5") == "approved"
        drain(app, timeout=120)
    finally:
        app.config.update(INTEGRATION_READ_TIMEOUT=saved[0], OUTBOX_MAX_ATTEMPTS=saved[1])
    stats = sandbox.stats()
    assert stats["effects_by_op"]["core.credit-lines"] == 4  # one line per application
    assert stats["calls"]["core.credit-lines"] >= 4
    for cid in cases:
        assert _state(db, load_case(cid).subject_id) == "active"
    print(f"\ncore under faults: {stats['calls']} duplicates absorbed={stats['duplicates']}")


def test_exhausted_attempts_fail_then_staff_retry_finishes_same_line(app, db, sandbox):
    sandbox.configure(core={"timeout_rate": 1.0, "timeout_seconds": 0.6})
    saved = app.config["INTEGRATION_READ_TIMEOUT"], app.config["OUTBOX_MAX_ATTEMPTS"]
    app.config.update(INTEGRATION_READ_TIMEOUT=0.3, OUTBOX_MAX_ATTEMPTS=2)
    try:
        cid = in_approval("20000")
        claim_and("approve", cid, user("approver1"), "20000", "6.5")
        app_id = load_case(cid).subject_id
        drain(app, timeout=60)
        assert _state(db, app_id) == "disbursement_failed"
        sandbox.configure(core={"timeout_rate": 0.0})
        bm = user("branch_mgr1")
        disbursement.retry(db.session, app_id, lifecycle.staff_actor(bm))
        drain(app, timeout=60)
    finally:
        app.config.update(INTEGRATION_READ_TIMEOUT=saved[0], OUTBOX_MAX_ATTEMPTS=saved[1])
    assert _state(db, app_id) == "active"
    stats = sandbox.stats()
    assert stats["effects_by_op"]["core.credit-lines"] == 1  # the late first call counted once
    assert stats["calls"].get("core.status", 0) >= 1  # status asked before re-sending


def test_contract_termination_through_the_sandbox_core(app, db, sandbox):
    """解约 after a real disbursement: one termination call at the core, the line closed."""
    from portal.credit import contracts

    cid = in_approval("20000")
    claim_and("approve", cid, user("approver1"), "20000", "6.5")
    drain(app)
    app_id = load_case(cid).subject_id
    contract = db.session.scalar(select(Contract).where(Contract.application_id == app_id))
    contracts.terminate(db.session, contract, user("branch_mgr1").id, "客户申请解约")
    drain(app)
    db.session.expire_all()
    contract = db.session.get(Contract, contract.id)
    line = db.session.get(CreditLine, contract.credit_line_id)
    assert (contract.status, line.status) == ("terminated", "closed")
    assert sandbox.stats()["effects_by_op"]["core.contract-terminations"] == 1
