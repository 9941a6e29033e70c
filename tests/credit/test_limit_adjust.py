"""Limit adjustment (额度调整) against the sandbox core: approved → outbox → core `adjust_limit`
→ the line's limit and available amount change only when core confirms; timeouts and 500s
give one change at the core; a core refusal dead-letters the item, the line shows it, and
the staff retry (same key) applies it once."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from models.background import OutboxItem
from models.credit import CreditLine
from portal.credit import limit_adjust
from portal.credit import lines as credit_lines
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

    db.session.execute(delete(OutboxItem))
    db.session.commit()
    clear_policies()
    approver_at("I01B01", "approver1", "200000")
    approver_at("I01B01", "approver_adj", "200000")
    policy(f"0-{TOP}: 网点 {TOP}")
    yield
    clear_policies()
    settle_offers()


def opened_line(app, db) -> CreditLine:
    """A credit line opened through the sandbox core (the real disbursement chain)."""
    cid = in_approval("20000")
    assert claim_and("approve", cid, user("approver1"), "20000", "6.5") == "approved"
    drain(app)
    db.session.expire_all()
    app_id = load_case(cid).subject_id
    line = db.session.scalar(select(CreditLine).where(CreditLine.application_id == app_id))
    assert line.status == "active" and line.core_ref
    return line


def adjust_approved(db, line: CreditLine, amount: str) -> int:
    case = credit_lines.request_adjustment(db.session, line, amount, user("branch_mgr1").id, "提额")
    assert claim_and("approve", case.id, user("approver_adj"), amount, "6.5") == "approved"
    return case.id


def _line(db, line_id) -> CreditLine:
    db.session.expire_all()
    return db.session.get(CreditLine, line_id)


def _actions(db, line_id) -> list[str]:
    return [e.action for e in credit_lines.history(db.session, line_id)]


def test_approved_change_applies_when_core_confirms(app, db, sandbox, client_for):
    line = opened_line(app, db)
    line.used_amount = Decimal("5000")
    db.session.commit()
    cid = adjust_approved(db, line, "35000")
    line = _line(db, line.id)
    assert (line.limit_amount, line.pending_limit) == (20000, 35000)
    page = client_for("branch_manager").get(f"/credit-lines/show/{line.id}").get_data(as_text=True)
    assert "调整至 35,000.00 元，待核心确认" in page
    drain(app)
    line = _line(db, line.id)
    assert (line.limit_amount, line.pending_limit) == (35000, None)
    assert line.available_amount == 30000
    stats = sandbox.stats()
    assert stats["calls"]["core.credit-limits"] == 1
    assert stats["effects_by_op"]["core.credit-limits"] == 1
    assert _actions(db, line.id)[-3:] == ["adjust_request", "adjust_approved", "adjust"]
    item = db.session.scalar(select(OutboxItem).where(OutboxItem.kind == limit_adjust.KIND))
    assert item.idempotency_key == f"core:line:{line.id}:adjust:{cid}" and item.state == "done"
    page = client_for("branch_manager").get(f"/credit-lines/show/{line.id}").get_data(as_text=True)
    assert "调整生效" in page and "待核心确认" not in page.split("额度历史")[0]


def test_core_timeouts_and_500s_change_the_limit_once(app, db, sandbox):
    line = opened_line(app, db)
    sandbox.configure(core={"failure_rate": 0.3, "timeout_rate": 0.4, "timeout_seconds": 0.6})
    saved = app.config["INTEGRATION_READ_TIMEOUT"], app.config["OUTBOX_MAX_ATTEMPTS"]
    app.config.update(INTEGRATION_READ_TIMEOUT=0.3, OUTBOX_MAX_ATTEMPTS=40)
    try:
        adjust_approved(db, line, "45000")
        drain(app, timeout=90)
    finally:
        app.config.update(INTEGRATION_READ_TIMEOUT=saved[0], OUTBOX_MAX_ATTEMPTS=saved[1])
        sandbox.configure(core={"failure_rate": 0, "timeout_rate": 0})
    line = _line(db, line.id)
    assert (line.limit_amount, line.pending_limit) == (45000, None)
    stats = sandbox.stats()
    assert stats["effects_by_op"]["core.credit-limits"] == 1
    if stats["calls"]["core.credit-limits"] > 1:  # a retry happened: status was asked first
        assert stats["calls"].get("core.status", 0) >= 1


def test_timeout_then_retry_asks_status_before_resending(app, db, sandbox):
    """Every reply late: the first call takes effect at the core; the retry finds it by key."""
    line = opened_line(app, db)
    sandbox.configure(core={"timeout_rate": 1.0, "timeout_seconds": 0.6})
    saved = app.config["INTEGRATION_READ_TIMEOUT"], app.config["OUTBOX_MAX_ATTEMPTS"]
    app.config.update(INTEGRATION_READ_TIMEOUT=0.3, OUTBOX_MAX_ATTEMPTS=5)
    try:
        adjust_approved(db, line, "25000")
        drain(app, timeout=60)
    finally:
        app.config.update(INTEGRATION_READ_TIMEOUT=saved[0], OUTBOX_MAX_ATTEMPTS=saved[1])
        sandbox.configure(core={"timeout_rate": 0})
    assert _line(db, line.id).limit_amount == 25000
    stats = sandbox.stats()
    assert stats["calls"]["core.credit-limits"] == 1  # never re-sent: the status said success
    assert stats["calls"]["core.status"] >= 1
    assert "adjust_retry" in _actions(db, line.id)


def test_core_refusal_dead_letters_then_staff_retry_applies_once(app, db, sandbox, client_for):
    line = opened_line(app, db)
    # core has 28,000 used on this line: a limit of 25,000 is refused (permanent, 422)
    httpx.post(
        f"{sandbox.url}/_sandbox/core/usage",
        json={"items": [{"line_ref": line.core_ref, "used": "28000"}]},
        timeout=5,
    ).raise_for_status()
    adjust_approved(db, line, "25000")
    drain(app)
    line = _line(db, line.id)
    assert (line.limit_amount, line.pending_limit) == (20000, 25000)
    item = limit_adjust.dead_item(db.session, line.id)
    assert item is not None and item.attempts == 1 and "422" in item.last_error
    assert _actions(db, line.id)[-1] == "adjust_failed"
    c = client_for("branch_manager")
    page = c.get(f"/credit-lines/show/{line.id}").get_data(as_text=True)
    assert "核心调整失败" in page and "重新提交核心调整" in page
    # the customer repays; staff retry from the line page: same key, applied once
    httpx.post(
        f"{sandbox.url}/_sandbox/core/usage",
        json={"items": [{"line_ref": line.core_ref, "used": "1000"}]},
        timeout=5,
    ).raise_for_status()
    r = c.post(f"/credit-lines/retry_adjustment/{line.id}", follow_redirects=True)
    assert "已重新提交核心系统额度调整" in r.get_data(as_text=True)
    drain(app)
    line = _line(db, line.id)
    assert (line.limit_amount, line.pending_limit) == (25000, None)
    assert sandbox.stats()["effects_by_op"]["core.credit-limits"] == 1
    assert _actions(db, line.id)[-3:] == ["adjust_failed", "adjust_resend", "adjust"]
    r = c.post(f"/credit-lines/retry_adjustment/{line.id}", follow_redirects=True)
    assert "没有失败待重试" in r.get_data(as_text=True)
