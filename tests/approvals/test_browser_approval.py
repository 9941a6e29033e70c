"""A real browser: an application that passed review enters the branch queue through the
outbox; approver1 claims and approves it in 审批工作台; the disbursement chain runs
against the sandbox core and the customer's SMS reaches the sandbox inbox."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from models.applications import Application, ApplicationEvent
from models.approvals import ApprovalCase
from portal.applications import lifecycle
from tests.support.applications import make_application
from tests.support.approvals import approver_at, clear_policies, policy, settle_offers, user
from tests.support.clients import browser_login
from tests.support.processes import drain

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("sms_templates"),
    pytest.mark.browser,
]


@pytest.fixture(autouse=True)
def _settle(db):
    yield
    settle_offers()  # no unsynced offers left for another test's cron process


def test_approver_claims_and_approves_in_browser(
    app, db, sandbox, chromium, live_server_url, output_dir
):
    from sqlalchemy import delete

    from models.background import OutboxItem

    db.session.execute(delete(OutboxItem))  # other tests' undrained items: not ours to count
    db.session.commit()
    clear_policies()
    approver_at("I01B01", "approver1", "200000")
    policy("0-99999999: 网点 99999999")
    app_id = make_application("under_review", "manager1")
    lifecycle.transition(app_id, "pass", lifecycle.staff_actor(user("manager1")), None)
    drain(app)  # approval.submit: review_passed → in_approval, case in the branch queue
    case = db.session.scalar(select(ApprovalCase).where(ApprovalCase.subject_id == app_id))
    assert case.queue_level == "branch" and case.state == "open"

    page = browser_login(chromium, live_server_url, "approver1")
    assert case.ref_no in page.content()  # the home page shows the queue
    page.goto(live_server_url + "/approvals/")
    row = page.locator(f"tr[data-ref='{case.ref_no}']")
    row.locator("button.claim-btn").click()
    page.wait_for_selector("#approve-form")
    page.screenshot(path=str(output_dir / "approval-case.png"), full_page=True)
    page.fill("#approve-amount", "18000")
    page.click("#approve-btn")
    page.wait_for_selector("#approval-queue")
    assert "审批通过，已发起出账" in page.content()
    assert page.portal_errors == [] and page.portal_foreign == []

    drain(app)  # 出账: open line → card link → sign → SMS
    db.session.expire_all()
    assert db.session.get(Application, app_id).state == "active"
    stats = sandbox.stats()
    assert stats["calls"]["core.credit-lines"] == 1
    inbox = httpx.get(f"{sandbox.url}/sms/inbox", timeout=5).text
    assert "额度18,000.00元已开通" in inbox
    steps = db.session.scalars(
        select(ApplicationEvent.action)
        .where(ApplicationEvent.application_id == app_id)
        .order_by(ApplicationEvent.id)
    ).all()
    assert steps[-5:] == ["pass", "submit_approval", "approve", "disburse", "disbursed"]
    clear_policies()
