"""Approval queues and decisions: each policy mode end to end, claim/release, separation of
duties, authority escalation, amount/rate checks, 20 parallel approvals → one approval."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from models.applications import Application, ApplicationEvent
from models.background import OutboxItem
from models.credit import CreditLine
from portal.access.scoping import scope_for
from portal.approvals import case_queue as approval_queue
from portal.approvals import decisions as approval_decision
from portal.approvals.case_queue import QueueError
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


def _app(case_id):
    c = case(case_id)
    return c, db_get(Application, c.subject_id)


def db_get(model, pk):
    from portal.core.extensions import db

    db.session.expire_all()
    return db.session.get(model, pk)


def _disburse_items(app_id):
    from portal.core.extensions import db

    return db.session.scalar(
        select(func.count())
        .select_from(OutboxItem)
        .where(OutboxItem.kind == "credit.disburse", OutboxItem.ref_id == app_id)
    )


def test_direct_mode_branch_approver_approves_and_disbursement_starts(db):
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    approver = user("approver1")
    page = approval_queue.queue_page(db.session, approver, scope_for(approver))
    assert cid in [r.id for r in page]
    assert claim_and("approve", cid, approver, "25000", "6.5", "同意") == "approved"
    c, app = _app(cid)
    assert (c.state, c.approved_amount) == ("approved", 25000)
    assert app.state == "disbursing" and _disburse_items(app.id) == 1
    line = db.session.scalar(select(CreditLine).where(CreditLine.application_id == app.id))
    assert (line.status, line.limit_amount) == ("opening", 25000)
    actions = db.session.scalars(
        select(ApplicationEvent.action)
        .where(ApplicationEvent.application_id == app.id)
        .order_by(ApplicationEvent.id)
    ).all()
    assert actions[-3:] == ["submit_approval", "approve", "disburse"]


def test_multi_level_mode_needs_two_different_approvers(db):
    policy(f"0-{TOP}: 网点 {TOP} > 机构 {TOP}")
    inst = approver_at("I01", "i01_approver", "500000")
    cid = in_approval("30000")
    assert claim_and("approve", cid, user("approver1"), "30000", "6.5") == "next"
    c, app = _app(cid)
    assert (c.step_index, c.queue_level, c.claimed_by, app.state) == (
        1,
        "institution",
        None,
        "in_approval",
    )
    with pytest.raises(QueueError):  # approver1 sits at the branch: not their queue
        approval_queue.claim(db.session, cid, user("approver1"), scope_for(user("approver1")))
    assert claim_and("approve", cid, inst, "30000", "6.5") == "approved"
    assert _app(cid)[1].state == "disbursing"


def test_same_person_cannot_approve_two_steps(db):
    policy(f"0-{TOP}: 机构 {TOP} > 机构 {TOP}")
    inst = approver_at("I01", "i01_approver", "500000")
    cid = in_approval("30000")
    assert claim_and("approve", cid, inst, "30000", "6.5") == "next"
    with pytest.raises(QueueError, match="不同人员"):
        claim_and("approve", cid, inst, "30000", "6.5")
    assert case(cid).state == "open"


def test_central_mode_goes_to_the_province_queue(db):
    policy(f"0-{TOP}: 集中 {TOP}")
    hq = approver_at("P00", "hq_approver_t", "5000000")
    cid = in_approval("30000")
    assert case(cid).queue_level == "central"
    assert (
        approval_queue.claim_next(db.session, user("approver1"), scope_for(user("approver1")))
        != cid
    )
    got = approval_queue.claim_next(db.session, hq, scope_for(hq))
    assert got == cid
    assert (
        approval_decision.approve(db.session, cid, hq, scope_for(hq), "30000", "6.5") == "approved"
    )


def test_reviewer_cannot_approve(db):
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000", reviewer="approver1")
    with pytest.raises(Exception, match="审查与审批"):
        claim_and("approve", cid, user("approver1"), "30000", "6.5")
    assert case(cid).state == "open" and _app(cid)[1].state == "in_approval"


def test_above_authority_escalates_to_next_level(db):
    policy(f"0-{TOP}: 网点 {TOP}")
    approver_at("I01", "i01_approver", "500000")
    cid = in_approval("300000")  # approver1 may approve up to 200,000
    assert claim_and("approve", cid, user("approver1"), "300000", "6.5") == "escalated"
    c, app = _app(cid)
    assert (c.state, c.queue_level, app.state) == ("open", "institution", "in_approval")
    assert claim_and("approve", cid, user("i01_approver"), "300000", "6.5") == "approved"


@pytest.mark.parametrize(
    "amount, rate, message",
    [
        ("40000", "6.5", "不超过申请金额"),
        ("0", "6.5", "大于 0"),
        ("abc", "6.5", "数字"),
        ("20000", "99", "利率须在产品范围"),
    ],
)
def test_bad_amount_or_rate_changes_nothing(db, amount, rate, message):
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    with pytest.raises(QueueError, match=message):
        claim_and("approve", cid, user("approver1"), amount, rate)
    c, app = _app(cid)
    assert c.state == "open" and app.state == "in_approval"


def test_claim_release_and_reject_with_sms(db):
    from models.sms.messages import SmsMessage

    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    a1 = user("approver1")
    other = approver_at("I01B01", "i01b01_apv_t2", "200000")
    approval_queue.claim(db.session, cid, a1, scope_for(a1))
    with pytest.raises(QueueError, match="已被其他审批人领取"):
        approval_queue.claim(db.session, cid, other, scope_for(other))
    with pytest.raises(QueueError, match="请先领取"):
        approval_decision.reject(db.session, cid, other, scope_for(other), "资料不符")
    approval_queue.release(db.session, cid, a1)
    with pytest.raises(QueueError, match="拒绝原因"):
        claim_and("reject", cid, other, " ")
    approval_decision.reject(db.session, cid, other, scope_for(other), "收入不足")
    c, app = _app(cid)
    assert (c.state, app.state) == ("rejected", "rejected")
    assert db.session.scalar(
        select(SmsMessage.id).where(
            SmsMessage.customer_id == app.customer_id,
            SmsMessage.template_code == "application_rejected",
        )
    )


def test_twenty_parallel_approvals_one_approval(app, db):
    """20 threads click approve on the one claimed case at once: one approval, one disbursement."""
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    a1 = user("approver1")
    approval_queue.claim(db.session, cid, a1, scope_for(a1))
    uid, outcomes, barrier = a1.id, [], threading.Barrier(20)

    def click():
        with app.app_context():
            from models.access.staff import StaffUser
            from portal.core.extensions import db as _db

            barrier.wait()  # before touching the pool: 20 threads > pool size
            try:
                me = _db.session.get(StaffUser, uid)
                outcomes.append(
                    approval_decision.approve(_db.session, cid, me, scope_for(me), "30000", "6.5")
                )
            except Exception as exc:  # noqa: BLE001 - every refusal counts as one outcome
                outcomes.append(type(exc).__name__)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 1, outcomes
    c, application = _app(cid)
    assert c.state == "approved" and application.state == "disbursing"
    assert _disburse_items(application.id) == 1
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ApplicationEvent)
            .where(
                ApplicationEvent.application_id == application.id,
                ApplicationEvent.action == "approve",
            )
        )
        == 1
    )


def test_parallel_claim_next_never_gives_one_case_twice(app, db):
    """Ten 领取下一笔 clicks at once on a queue of five (approver1's branch): five distinct
    claims, the rest find the queue empty (SKIP LOCKED on PostgreSQL, guarded UPDATE on SQLite).
    One demo approver clicks in ten sessions: the test adds no staff to the shared demo."""
    policy(f"0-{TOP}: 网点 {TOP}")
    cases = {in_approval("20000") for _ in range(5)}
    uid = user("approver1").id
    got, barrier = [], threading.Barrier(10)

    def press():
        with app.app_context():
            from models.access.staff import StaffUser
            from portal.core.extensions import db as _db

            barrier.wait()
            try:
                me = _db.session.get(StaffUser, uid)
                got.append(approval_queue.claim_next(_db.session, me, scope_for(me)))
            except Exception as exc:  # noqa: BLE001
                got.append(type(exc).__name__)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=press) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [g for g in got if isinstance(g, int)]
    assert got.count(None) == 5, got  # the others: queue empty, no error
    assert sorted(claimed) == sorted(cases), got
    assert {case(c).claimed_by for c in cases} == {uid}
