"""The account manager's side in the UI: a signed application reaches manager1's to-do list,
the page shows it masked, and the manager investigates, asks for information, passes or
rejects; scope keeps other managers out; the branch manager reassigns."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.access.audit import AuditLog
from models.applications import Application, ApplicationNote
from models.background import OutboxItem
from models.customers import Customer
from models.integrations import CreditAuthorization, CreditInquiry
from tests.support.applications import ChannelClient, channel_key, fresh_offer, submit_body, user_id


@pytest.fixture()
def submitted(app, db, templates):
    """A fresh application from the channel, assigned to manager1 (their own customer)."""
    key_id, secret = channel_key()
    api = ChannelClient(app.test_client(), key_id, secret)
    resp = api.call("POST", "/applications", submit_body(fresh_offer()))
    assert resp.status_code == 201, resp.get_json()
    db.session.expire_all()
    return db.session.scalar(
        select(Application).where(Application.app_no == resp.get_json()["application"]["app_no"])
    )


def _act(client, app_id, action, version, **extra):
    return client.post(
        f"/applications/act/{app_id}", data={"action": action, "version": version, **extra}
    )


def _state(db, app_id) -> str:
    db.session.expire_all()
    return db.session.get(Application, app_id).state


def test_manager_sees_new_application_and_passes_it(client_for, db, submitted):
    c = client_for("account_manager")
    todo = c.get("/workbench/").get_data(as_text=True)
    assert submitted.app_no in todo and "新分配的申请" in todo
    page = c.get(f"/applications/show/{submitted.id}").get_data(as_text=True)
    customer = db.session.get(Customer, submitted.customer_id)
    assert customer.id_number not in page and customer.mobile not in page  # masked
    assert "开始调查" in page and submitted.auth_ref in page
    assert _act(c, submitted.id, "start_review", 2).status_code == 302
    assert _state(db, submitted.id) == "under_review"
    c.post(f"/applications/note/{submitted.id}", data={"kind": "note", "body": "客户经营正常"})
    c.post(f"/applications/note/{submitted.id}", data={"kind": "contact", "outcome": "no_answer"})
    notes = db.session.scalars(
        select(ApplicationNote).where(ApplicationNote.application_id == submitted.id)
    ).all()
    assert sorted(n.kind for n in notes) == ["contact", "note"]
    assert _act(c, submitted.id, "request_info", 3, reason="请补充收入证明").status_code == 302
    assert _state(db, submitted.id) == "need_info"
    push = db.session.scalar(
        select(OutboxItem).where(OutboxItem.idempotency_key == f"mbank:app:{submitted.id}:v4")
    )
    assert push.payload["status"] == "need_info"
    _act(c, submitted.id, "info_received", 4)
    # a stale page (old version) cannot act; the current one can
    resp = _act(c, submitted.id, "pass", 3)
    assert "已被他人处理" in c.get(resp.headers["Location"]).get_data(as_text=True)
    _act(c, submitted.id, "pass", 5)
    assert _state(db, submitted.id) == "review_passed"
    history = c.get(f"/applications/show/{submitted.id}").get_data(as_text=True)
    for label in ("提交申请", "自动分派", "开始调查", "要求补充资料", "调查通过"):
        assert label in history


def test_reject_with_reason_code_and_sms(client_for, db, submitted):
    c = client_for("account_manager")
    _act(c, submitted.id, "start_review", 2)
    _act(c, submitted.id, "reject", 3, reason_code="income_low", reason="")
    assert _state(db, submitted.id) == "rejected"
    assert db.session.get(Application, submitted.id).reason_code == "income_low"


def test_other_manager_and_other_branch_cannot_reach(client_for, db, submitted):
    m2 = client_for("account_manager_2")
    assert m2.get(f"/applications/show/{submitted.id}").status_code == 404
    assert _act(m2, submitted.id, "start_review", 2).status_code == 404
    assert submitted.app_no not in m2.get("/workbench/").get_data(as_text=True)
    # the branch manager sees it but may not review it
    bm = client_for("branch_manager")
    assert bm.get(f"/applications/show/{submitted.id}").status_code == 200
    assert _act(bm, submitted.id, "start_review", 2).status_code == 403
    assert _state(db, submitted.id) == "assigned"


def test_branch_manager_reassigns_from_the_page(client_for, db, submitted):
    bm = client_for("branch_manager")
    page = bm.get(f"/applications/show/{submitted.id}").get_data(as_text=True)
    assert 'id="reassign-form"' in page
    bm.post(f"/applications/reassign/{submitted.id}", data={"manager_id": user_id("manager2")})
    db.session.expire_all()
    assert db.session.get(Application, submitted.id).manager_id == user_id("manager2")
    assert "批量改派" in bm.get("/applications/list/").get_data(as_text=True)


def test_inquiry_refused_without_authorization_and_unmask_audited(client_for, db, submitted):
    db.session.query(CreditAuthorization).filter_by(customer_id=submitted.customer_id).delete()
    db.session.commit()
    c = client_for("account_manager")
    resp = c.post(f"/applications/inquiry/{submitted.id}")
    assert "无有效征信查询授权书" in c.get(resp.headers["Location"]).get_data(as_text=True)
    refused = db.session.scalar(
        select(CreditInquiry).where(CreditInquiry.customer_id == submitted.customer_id)
    )
    assert refused.outcome == "refused"
    body = c.post(
        f"/applications/unmask/{submitted.id}", data={"reason": "电话联系客户核实"}
    ).get_data(as_text=True)
    customer = db.session.get(Customer, submitted.customer_id)
    assert customer.id_number in body
    assert db.session.scalar(
        select(AuditLog).where(AuditLog.event == "unmask", AuditLog.target_id == str(customer.id))
    )


def test_workbench_filters_and_sla_clock(client_for, db, submitted, app):
    import datetime as dt

    app_row = db.session.get(Application, submitted.id)
    app_row.submitted_at = dt.datetime.now() - dt.timedelta(minutes=45)
    db.session.commit()
    c = client_for("account_manager")
    body = c.get("/workbench/?kind=new&overdue=1").get_data(as_text=True)
    row = re.search(rf'<tr class="danger" data-app-no="{submitted.app_no}">(.*?)</tr>', body, re.S)
    assert row and "45 分钟（超时）" in row.group(1)
    assert submitted.app_no not in c.get("/workbench/?kind=need_info").get_data(as_text=True)


def test_admin_issues_and_revokes_channel_key(client_for, db):
    c = client_for("institution_admin")
    page = c.post("/channel-keys/issue", data={"channel": "mbank", "note": "轮换"}).get_data(
        as_text=True
    )
    key_id = re.search(r'id="key-id">([^<]+)<', page).group(1)
    secret = re.search(r'id="key-secret">([^<]+)<', page).group(1)
    from models.applications import ChannelKey

    key = db.session.scalar(select(ChannelKey).where(ChannelKey.key_id == key_id))
    assert key.institution_id is not None and secret not in key.secret_enc
    assert secret not in c.get(f"/channel-keys/show/{key.id}").get_data(as_text=True)
    c.post(f"/channel-keys/revoke/{key.id}")
    db.session.expire_all()
    assert db.session.get(ChannelKey, key.id).active is False
    assert client_for("account_manager").get("/channel-keys/list/").status_code in (302, 403)
