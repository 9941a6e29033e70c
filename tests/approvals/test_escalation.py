"""Escalation (超权限上报): the case lands on the next step's queue marked 升级, and the
reason — the amount, the approver's authority and where it went — is in the case history."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.applications import ApplicationEvent
from models.approvals import ApprovalDecision
from portal.access.scoping import scope_for
from portal.approvals import case_queue as approval_queue
from tests.support.approvals import (
    approver_at,
    case,
    claim_and,
    clear_policies,
    in_approval,
    policy,
    user,
)

TOP = "99999999"


@pytest.fixture(autouse=True)
def _clean(db):
    from portal.sms.standard_templates import seed_templates

    seed_templates()
    clear_policies()
    approver_at("I01B01", "approver1", "200000")
    yield
    clear_policies()


def _row(approver, cid):
    from portal.core.extensions import db

    rows = approval_queue.queue_page(db.session, approver, scope_for(approver), limit=200)
    return next((r for r in rows if r.id == cid), None)


def test_escalated_case_is_marked_on_the_next_queue_with_reason_in_history(db, client_for):
    policy(f"0-{TOP}: 网点 {TOP}")
    inst = approver_at("I01", "i01_approver", "500000")
    cid = in_approval("300000")
    plain = in_approval("30000")  # not escalated: no marker
    assert _row(user("approver1"), cid).escalated is False
    result = claim_and("approve", cid, user("approver1"), "300000", "6.5", "收入证明充分")
    assert result == "escalated"

    c = case(cid)
    assert (c.queue_level, c.claimed_by) == ("institution", None)
    assert _row(user("approver1"), cid) is None  # left the branch queue
    row = _row(inst, cid)
    assert row is not None and row.escalated is True
    assert _row(user("approver1"), plain).escalated is False

    last = db.session.scalars(
        select(ApprovalDecision)
        .where(ApprovalDecision.case_id == cid)
        .order_by(ApprovalDecision.id.desc())
    ).first()
    assert last.action == "escalate" and last.step_index == 0
    assert "300,000.00" in last.reason and "200,000.00" in last.reason
    assert "上报法人机构审批" in last.reason and "收入证明充分" in last.reason
    event = db.session.scalars(
        select(ApplicationEvent)
        .where(ApplicationEvent.application_id == c.subject_id)
        .order_by(ApplicationEvent.id.desc())
    ).first()
    assert event.action == "approval_escalate" and event.reason == last.reason

    # what the institution's approver sees: the marker on the queue, the reason on the case
    web = client_for("i01_approver")
    page = web.get("/approvals/").get_data(as_text=True)
    tr = page[page.index(f'data-ref="{c.ref_no}"') :]
    tr = tr[: tr.index("</tr>")]
    assert 'class="label label-warning escalated"' in tr and "升级" in tr
    shown = web.get(f"/approvals/case/{cid}").get_data(as_text=True)
    assert "超权限上报" in shown and "上报法人机构审批" in shown

    # a claim does not take the marker away; the next step's decision does
    approval_queue.claim(db.session, cid, inst, scope_for(inst))
    assert _row(inst, cid).escalated is True


def test_escalation_to_the_next_policy_step_is_marked_too(db):
    policy(f"0-{TOP}: 网点 100000 > 机构 {TOP}")
    inst = approver_at("I01", "i01_approver", "500000")
    approver_at("I01B01", "approver1", "50000")
    try:
        cid = in_approval("80000")
        assert claim_and("approve", cid, user("approver1"), "80000", "6.5") == "escalated"
        c = case(cid)
        assert (c.step_index, c.queue_level) == (1, "institution")
        assert _row(inst, cid).escalated is True
    finally:
        approver_at("I01B01", "approver1", "200000")


def test_a_normal_step_approval_is_not_marked(db):
    policy(f"0-{TOP}: 网点 100000 > 机构 {TOP}")
    inst = approver_at("I01", "i01_approver", "500000")
    cid = in_approval("80000")
    assert claim_and("approve", cid, user("approver1"), "80000", "6.5") == "next"
    assert _row(inst, cid).escalated is False
