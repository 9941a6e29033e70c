"""Approval, credit-line, contract and batch-opening pages: the approver's queue and decision
through HTTP, the policy editor refusing bad bands in Chinese with nothing saved, credit line
freeze and limit change through approval, contract termination via the outbox, batch opening
with per-item results and retry of failed items only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models.applications import Application
from models.approvals import ApprovalCase, ApprovalPolicy
from models.background import OutboxItem
from models.credit import BatchOpeningItem, Contract, CreditLine
from tests.support.applications import org_id
from tests.support.approvals import approver_at, case, clear_policies, in_approval, policy, user
from tests.support.credit import _line

TOP = "99999999"


@pytest.fixture(autouse=True)
def _clean(db):
    from portal.sms.standard_templates import seed_templates

    seed_templates()
    clear_policies()
    approver_at("I01B01", "approver1", "200000")
    yield
    clear_policies()


def test_approver_claims_and_approves_over_http(db, client_for):
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    c = client_for("approver")
    page = c.get("/approvals/")
    assert page.status_code == 200 and case(cid).ref_no in page.get_data(as_text=True)
    assert c.post(f"/approvals/claim/{cid}").status_code == 302
    shown = c.get(f"/approvals/case/{cid}").get_data(as_text=True)
    assert "审批通过" in shown and "第 1 版" in shown
    bad = c.post(
        f"/approvals/approve/{cid}", data={"amount": "九万", "rate": "6.5"}, follow_redirects=True
    )
    assert "批准金额须为数字" in bad.get_data(as_text=True) and case(cid).state == "open"
    ok = c.post(
        f"/approvals/approve/{cid}", data={"amount": "30000", "rate": "6.5"}, follow_redirects=True
    )
    assert "审批通过，已发起出账" in ok.get_data(as_text=True)
    assert case(cid).state == "approved"


def test_branch_manager_sees_counts_but_cannot_decide(db, client_for):
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    c = client_for("branch_manager")
    page = c.get("/approvals/").get_data(as_text=True)
    assert "申请所属网点队列" in page and "领取下一笔" not in page
    assert c.post(f"/approvals/claim/{cid}").status_code in (302, 403)
    assert case(cid).claimed_by is None


def test_policy_editor_refuses_gap_in_chinese_and_saves_nothing(db, client_for):
    c = client_for("institution_admin")
    before = db.session.scalar(select(func.count()).select_from(ApprovalPolicy))
    resp = c.post(
        "/approval-policies/new/",
        data={
            "name": "有空档的策略",
            "bands": "0-50000: 网点 50000\n60000-99999999: 机构 99999999",
            "product_id": "",
            "purpose": "application",
            "disbursement": "auto",
        },
    )
    assert resp.status_code == 400 and "空档" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ApprovalPolicy)) == before
    ok = c.post(
        "/approval-policies/new/",
        data={
            "name": "青禾多级审批",
            "bands": f"0-50000: 网点 50000\n50000-{TOP}: 网点 50000 > 机构 {TOP}",
            "product_id": "",
            "purpose": "application",
            "disbursement": "auto",
        },
    )
    assert ok.status_code == 302
    saved = db.session.scalar(select(ApprovalPolicy).where(ApprovalPolicy.name == "青禾多级审批"))
    assert saved.institution_id == org_id("I01") and saved.mode == "mixed"
    from models.access.audit import AuditLog

    assert db.session.scalar(select(AuditLog.id).where(AuditLog.event == "approval_policy_saved"))
    assert client_for("approver").get("/approval-policies/list/").status_code in (302, 403)


def test_credit_line_freeze_and_limit_change_through_approval(db, client_for):
    line = _line(db)
    c = client_for("branch_manager")
    r = c.post(
        f"/credit-lines/line_status/{line.id}",
        data={"action": "freeze", "reason": ""},
        follow_redirects=True,
    )
    assert "请填写冻结原因" in r.get_data(as_text=True)
    c.post(f"/credit-lines/line_status/{line.id}", data={"action": "freeze", "reason": "风险预警"})
    db.session.expire_all()
    assert db.session.get(CreditLine, line.id).status == "frozen"
    c.post(f"/credit-lines/line_status/{line.id}", data={"action": "unfreeze", "reason": "解除"})
    r = c.post(
        f"/credit-lines/adjust/{line.id}",
        data={"limit": "30000", "reason": "提额"},
        follow_redirects=True,
    )
    assert "已提交审批" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CreditLine, line.id).limit_amount == 20000  # not before approval
    cid = db.session.scalar(
        select(ApprovalCase.id).where(
            ApprovalCase.subject == "limit_adjust", ApprovalCase.subject_id == line.id
        )
    )
    a = client_for("approver")
    a.post(f"/approvals/claim/{cid}")
    a.post(f"/approvals/approve/{cid}", data={"amount": "30000", "rate": "6.5"})
    db.session.expire_all()
    # approved: sent to core banking through the outbox; the limit changes when core confirms
    line = db.session.get(CreditLine, line.id)
    assert (line.limit_amount, line.pending_limit) == (20000, 30000)
    assert db.session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.kind == "credit.limit_adjust",
            OutboxItem.idempotency_key == f"core:line:{line.id}:adjust:{cid}",
        )
    )
    page = c.get(f"/credit-lines/show/{line.id}").get_data(as_text=True)
    assert "待核心确认" in page and "调整审批通过" in page
    r = c.post(
        f"/credit-lines/adjust/{line.id}",
        data={"limit": "40000", "reason": "再提额"},
        follow_redirects=True,
    )
    assert "待核心系统确认" in r.get_data(as_text=True)


def test_contract_termination_goes_through_the_outbox(db, client_for):
    line = _line(db)
    contract = db.session.scalar(select(Contract).where(Contract.credit_line_id == line.id))
    c = client_for("branch_manager")
    c.post(f"/contracts/terminate/{contract.id}", data={"reason": "客户申请解约"})
    db.session.expire_all()
    assert db.session.get(Contract, contract.id).status == "terminating"
    assert db.session.scalar(
        select(OutboxItem.id).where(
            OutboxItem.idempotency_key == f"core:contract:{contract.id}:terminate"
        )
    )
    r = c.post(
        f"/contracts/terminate/{contract.id}", data={"reason": "再次"}, follow_redirects=True
    )
    assert "不能解约" in r.get_data(as_text=True)


def test_batch_opening_per_item_results_and_retry_failed_only(app, db, monkeypatch):
    from portal.access.scoping import scope_for
    from portal.credit import account_opening as batch_opening
    from portal.credit import disbursement
    from portal.integrations.base import RetryableError

    policy(f"0-{TOP}: 网点 {TOP}", disbursement="batch")
    ids = []
    for _ in range(3):
        cid = in_approval("20000", branch="I01B03")
        from tests.support.approvals import claim_and

        approver = approver_at("I01B03", "i01b03_approver", "200000")
        assert claim_and("approve", cid, approver, "20000", "6.5") == "approved"
        ids.append(case(cid).subject_id)
    assert {db.session.get(Application, i).state for i in ids} == {"approved"}
    calls = []

    def fake_perform(op, key, payload, *, is_retry=False):
        calls.append((op, key, is_retry))
        if op == "open_credit_line" and key.endswith(f"{ids[1]}:open") and len(calls) < 8:
            raise RetryableError("timeout")
        return {"ref": "CB" + key, "status": "success"}

    monkeypatch.setattr(disbursement.core_banking, "perform", fake_perform)
    monkeypatch.setattr(batch_opening, "_enqueue", lambda *a: None)
    bm = user("i01b03_approver")
    batch = batch_opening.start(db.session, bm, scope_for(bm))
    assert batch.total == 3
    assert batch_opening.run(db.session, batch.id, bm.id) == {"ok": 2, "failed": 1}
    db.session.expire_all()
    assert db.session.get(Application, ids[1]).state == "disbursement_failed"
    failed_item = db.session.scalar(
        select(BatchOpeningItem).where(
            BatchOpeningItem.batch_id == batch.id, BatchOpeningItem.status == "failed"
        )
    )
    assert failed_item.application_id == ids[1] and "timeout" in failed_item.error
    before = len(calls)
    assert batch_opening.retry_failed(db.session, batch, bm) == 1
    assert batch_opening.run(db.session, batch.id, bm.id) == {"ok": 3, "failed": 0}
    assert {k.split(":")[1] for _, k, _ in calls[before:]} == {str(ids[1])}  # failed only
    assert all(r for _, _, r in calls)  # every batch call asks the core's status first
    assert {db.session.get(Application, i).state for i in ids} == {"active"}


def test_home_pages_show_queue_and_counts(db, client_for):
    policy(f"0-{TOP}: 网点 {TOP}")
    cid = in_approval("30000")
    body = client_for("approver").get("/").get_data(as_text=True)
    assert 'id="approval-home"' in body and case(cid).ref_no in body
    assert "本队列待审批" in body
    bm = client_for("branch_manager").get("/").get_data(as_text=True)
    assert 'id="approval-home"' in bm and "申请所属网点队列" in bm and "本队列待审批" not in bm
    assert 'id="approval-home"' not in client_for("data_marketing").get("/").get_data(as_text=True)
