"""Done-when of the applications issue, end to end over HTTP: the whitelist syncs to the
sandbox's mobile banking; its client sends a signed application to the served portal; the
application is on manager1's to-do list, the manager's SMS is in the sandbox inbox and the
status push reached mobile banking; a withdrawal is pushed too."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from models.applications import Application
from portal.sandbox.mbank_client import MobileBankingClient, synced_offers
from portal.whitelist import offer_sync
from tests.support.applications import channel_key, fresh_offer
from tests.support.processes import drain

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]


def test_signed_application_reaches_todo_list_and_sms_inbox(
    app, db, sandbox, live_server_url, client_for
):
    offer = fresh_offer()  # manager1's customer in I01B01
    offer_sync.sync_delta(db.session)
    drain(app)
    held = [o for o in synced_offers(sandbox.url, 5000) if o["offer_id"] == offer.id]
    assert held, "the offer did not reach mobile banking"
    key_id, secret = channel_key()
    client = MobileBankingClient(live_server_url, key_id, secret)
    resp = client.submit(held[0])
    assert resp.status_code == 201, resp.text
    app_no = resp.json()["application"]["app_no"]
    drain(app)
    keys = sandbox.stats()["keys"]
    inbox = httpx.get(sandbox.url + "/sms/inbox").text
    assert "您有一笔新的消费易申请待调查" in inbox
    assert f"共接收 {keys} 个幂等请求" in inbox, inbox[:600]  # a number, not a method's repr
    assert app_no in client_for("account_manager").get("/workbench/").get_data(as_text=True)
    withdrawn = client.withdraw(app_no, "不需要了")
    assert withdrawn.status_code == 200, withdrawn.text
    drain(app)
    assert "application-status" in str(sandbox.stats())  # the withdrawal was pushed
    db.session.expire_all()
    row = db.session.scalar(select(Application).where(Application.app_no == app_no))
    assert row.state == "withdrawn"
    assert client.status(app_no).json()["application"]["status"] == "withdrawn"


def test_sandbox_client_says_why_when_no_offer_is_synced(sandbox, capsys):
    """`python -m portal.sandbox.mbank_client apply` for a branch with no synced offer ends
    with exit 1 and says why in Chinese, instead of ending silently."""
    from portal.sandbox import mbank_client

    code = mbank_client.main(
        ["apply", "--sandbox", sandbox.url, "--portal", "http://127.0.0.1:9", "--branch", "X99"]
    )
    assert code == 1
    assert "沙箱手机银行中没有网点 X99 已同步的预授信额度" in capsys.readouterr().err


def test_status_pushes_reach_mobile_banking_in_one_call_per_batch(app, db, sandbox):
    """Five withdrawals' status changes go to mobile banking in one call, each applied once
    by its own key; a call that fails is retried for every status in it, none twice."""
    import datetime as dt

    from sqlalchemy import update

    from jobs.background.worker import run_worker
    from models.background import OutboxItem
    from portal.background import outbox
    from tests.support.applications import ChannelClient, submit_body

    kind, op = "mbank.application_status", "mbank.application-status"
    drain(app)  # nothing of earlier tests left in flight
    known = set(db.session.scalars(select(OutboxItem.id).where(OutboxItem.kind == kind)))
    before = sandbox.stats()
    key_id, secret = channel_key()
    api = ChannelClient(app.test_client(), key_id, secret)
    for i in range(5):
        resp = api.call("POST", "/applications", submit_body(fresh_offer()))
        assert resp.status_code == 201, resp.get_json()
        app_no = resp.get_json()["application"]["app_no"]
        wd = api.call("POST", f"/applications/{app_no}/withdraw", {"request_id": f"WD{i}{app_no}"})
        assert wd.status_code == 200, wd.get_json()
    db.session.rollback()
    new = set(db.session.scalars(select(OutboxItem.id).where(OutboxItem.kind == kind))) - known
    assert len(new) == 5  # one per withdrawal (a submission's status is in its response)

    def delta(stats, group):
        return stats[group].get(op, 0) - before[group].get(op, 0)

    sandbox.configure(mbank={"failure_rate": 1.0})
    outbox.dispatch()
    run_worker(app, burst=True)
    failed = sandbox.stats()
    assert delta(failed, "calls") == 1  # one call for all of them
    assert delta(failed, "effects_by_op") == 0
    db.session.rollback()
    attempts = db.session.scalars(select(OutboxItem.attempts).where(OutboxItem.id.in_(new))).all()
    assert set(attempts) == {1}  # every status of the failed call counts one failed attempt
    sandbox.configure(mbank={"failure_rate": 0.0})
    db.session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(new), OutboxItem.state == "pending")
        .values(next_attempt_at=dt.datetime(2000, 1, 1))
    )
    db.session.commit()
    drain(app)
    stats = sandbox.stats()
    assert delta(stats, "effects_by_op") == len(new)
    assert delta(stats, "calls") == 2  # the failed call and its one retry
    assert stats["duplicates"] == before["duplicates"]
    states = db.session.scalars(select(OutboxItem.state).where(OutboxItem.id.in_(new))).all()
    assert set(states) == {"done"}
