"""A real browser: a signed application from the sandbox's mobile-banking client reaches
manager1's to-do list (我的工作台); manager1 opens it, starts the investigation and passes it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.applications import Application
from models.customers import Customer
from portal.sandbox.mbank_client import MobileBankingClient
from tests.support.applications import channel_key, fresh_offer
from tests.support.clients import browser_login

pytestmark = pytest.mark.browser


def test_manager_passes_signed_application_in_browser(db, chromium, live_server_url, output_dir):
    from portal.sms.standard_templates import seed_templates

    seed_templates()
    key_id, secret = channel_key()
    offer = fresh_offer()
    customer = db.session.get(Customer, offer.customer_id)
    client = MobileBankingClient(live_server_url, key_id, secret)
    resp = client.submit(
        {
            "offer_id": offer.id,
            "id_number": customer.id_number,
            "mobile": customer.mobile,
            "limit": str(offer.limit_amount),
        }
    )
    assert resp.status_code == 201, resp.text
    app_no = resp.json()["application"]["app_no"]

    page = browser_login(chromium, live_server_url, "manager1")
    page.goto(live_server_url + "/workbench/")
    row = page.locator(f"tr[data-app-no='{app_no}']")
    assert "新分配的申请" in row.inner_text()
    page.screenshot(path=str(output_dir / "applications-workbench.png"), full_page=True)
    row.locator("a").first.click()
    page.wait_for_selector("#btn-start_review")
    assert customer.id_number not in page.content()  # masked on the page
    page.click("#btn-start_review")
    page.wait_for_selector("#btn-pass")
    assert page.inner_text("#state-label") == "调查中"
    page.fill("#note-form textarea[name=body]", "客户在本地经营五年，收入稳定")
    page.click("#note-form button[type=submit]")
    page.wait_for_selector("#btn-pass")
    page.click("#btn-pass")
    page.wait_for_selector("#state-label")
    assert page.inner_text("#state-label") == "调查通过"
    assert "已调查通过" in page.content()
    page.screenshot(path=str(output_dir / "applications-passed.png"), full_page=True)
    db.session.expire_all()
    app_row = db.session.scalar(select(Application).where(Application.app_no == app_no))
    assert app_row.state == "review_passed"
    status = client.status(app_no).json()["application"]
    assert status["status"] == "approving"
    assert page.portal_errors == [] and page.portal_foreign == []
    page.context.close()
