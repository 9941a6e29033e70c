"""Dashboards draw offline in a real browser: canvases, no console errors, nothing external;
a click on a bar drills into the matching scoped list."""

import pytest

from tests.support.clients import browser_login

pytestmark = pytest.mark.browser

PAGES = [
    ("branch_mgr1", "branch", "网点经营看板"),
    ("inst_admin", "org", "机构经营看板"),
    ("admin", "org", "机构经营看板"),
    ("approver1", "approver", "审批看板"),
    ("manager1", "manager", "我的看板"),
    ("branch_mgr1", "customers", "客户分布"),
]


@pytest.fixture(scope="module", autouse=True)
def summaries(app):
    from portal.core.extensions import db
    from portal.reports import aggregates

    with app.app_context():
        aggregates.rebuild(db.session)


@pytest.mark.parametrize("username,kind,title", PAGES)
def test_dashboard_charts_render_offline(
    chromium, live_server_url, output_dir, username, kind, title
):
    page = browser_login(chromium, live_server_url, username)
    page.goto(f"{live_server_url}/dashboard/{kind}/?start=2020-01-01")
    page.wait_for_selector(".portal-chart[data-drawn='1'] canvas")
    charts = page.locator(".portal-chart")
    assert charts.count() >= 3
    for i in range(charts.count()):
        charts.nth(i).locator("canvas").first.wait_for()
        assert charts.nth(i).locator("canvas").count() >= 1
    assert title in page.inner_text("#dashboard")
    page.screenshot(path=str(output_dir / f"dashboard-{kind}-{username}.png"), full_page=True)
    assert page.portal_errors == []
    assert page.portal_foreign == []
    page.context.close()


def test_landing_page_follows_the_role(chromium, live_server_url):
    page = browser_login(chromium, live_server_url, "branch_mgr1")
    page.goto(live_server_url + "/dashboard/")
    page.wait_for_url("**/dashboard/branch/")
    assert "网点经营看板" in page.inner_text("#dashboard")
    page.context.close()


def test_bar_click_drills_into_the_scoped_customer_list(chromium, live_server_url):
    page = browser_login(chromium, live_server_url, "branch_mgr1")
    page.goto(live_server_url + "/dashboard/customers/")
    page.wait_for_selector("#chart-customers-by-branch[data-drawn='1'] canvas")
    box = page.locator("#chart-customers-by-branch canvas").first.bounding_box()
    # a branch manager sees one branch: its single bar sits in the middle of the plot
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.6)
    page.wait_for_url("**/customers/list/**")
    assert "客户列表" in page.content()
    page.context.close()


def test_workload_bar_drills_into_the_managers_applications(chromium, live_server_url):
    page = browser_login(chromium, live_server_url, "branch_mgr1")
    page.goto(live_server_url + "/dashboard/branch/")
    page.wait_for_selector("#chart-funnel[data-drawn='1'] canvas")
    box = page.locator("#chart-funnel canvas").first.bounding_box()
    # the funnel's first stage (whitelist) sits at the top centre
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2)
    page.wait_for_url("**/offers/**")
    page.context.close()
