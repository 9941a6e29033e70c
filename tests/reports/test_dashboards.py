"""Role dashboards: every page renders in Chinese for its roles from the summary tables,
and a branch manager's figures count only their branch (scope)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from sqlalchemy import delete

from models.reports import AggDaily, MarketingTarget
from portal.access.scoping import Scope
from portal.reports import aggregates, dashboard_data
from tests.support.applications import org_id, user_id


@pytest.fixture()
def seeded(db):
    """Two branches with known summary rows (I01B01 and I01B02) and a target."""
    db.session.execute(delete(AggDaily))
    today = dt.date.today()
    b1, b2, inst = org_id("I01B01"), org_id("I01B02"), org_id("I01")
    m1 = user_id("manager1")
    for grain, branch, manager, n in (
        ("m", b1, m1, 4),
        ("b", b1, None, 4),
        ("b", b2, None, 9),
        ("i", None, None, 13),
    ):
        for metric in ("submitted", "approved", "decided", "decided_15"):
            db.session.add(
                AggDaily(
                    grain=grain,
                    day=today,
                    institution_id=inst,
                    branch_id=branch,
                    manager_id=manager,
                    metric=metric,
                    n=n,
                    total=Decimal(n * 1000),
                )
            )
    db.session.execute(delete(MarketingTarget))
    db.session.add(
        MarketingTarget(
            month=today.strftime("%Y-%m"),
            institution_id=inst,
            branch_id=b1,
            manager_id=m1,
            applications=10,
            approved_amount=Decimal(100000),
        )
    )
    db.session.commit()
    yield
    aggregates.rebuild(db.session)


def _options(html: str, key: str) -> dict:
    marker = f'id="chart-{key}"'
    chunk = html[html.index(marker) :]
    raw = chunk[chunk.index('data-options="') + 14 :]
    raw = raw[: raw.index('"')]
    import html as h

    return json.loads(h.unescape(raw))


def test_branch_manager_counts_only_their_branch(seeded, client_for):
    page = client_for("branch_manager").get("/dashboard/branch/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "网点经营看板" in html and "15 分钟内办结" in html
    funnel = _options(html, "funnel")
    stages = {d["name"]: d["value"] for d in funnel["series"][0]["data"]}
    assert stages["申请"] == 4  # branch I01B01 only, not the 9 of I01B02 nor 13 of I01


def test_institution_admin_sees_every_branch_and_may_narrow(seeded, client_for, db):
    client = client_for("institution_admin")
    html = client.get("/dashboard/org/").get_data(as_text=True)
    stages = {d["name"]: d["value"] for d in _options(html, "funnel")["series"][0]["data"]}
    assert stages["申请"] == 13
    by_unit = _options(html, "by-unit")
    assert sorted(by_unit["series"][0]["data"]) == [4, 9]
    narrowed = client.get(f"/dashboard/org/?node={org_id('I01B02')}").get_data(as_text=True)
    stages = {d["name"]: d["value"] for d in _options(narrowed, "funnel")["series"][0]["data"]}
    assert stages["申请"] == 9


def test_narrowing_never_widens_a_scope(db, seeded):
    branch = Scope("branch", 1, institution_id=org_id("I01"), branch_id=org_id("I01B01"))
    assert dashboard_data.narrow(db.session, branch, org_id("I02")) == branch
    inst = Scope("institution", 1, institution_id=org_id("I01"))
    assert dashboard_data.narrow(db.session, inst, org_id("I02B01")) == inst


@pytest.mark.parametrize(
    "role,kind",
    [
        ("hq_admin", "org"),
        ("institution_admin", "org"),
        ("branch_manager", "branch"),
        ("approver", "approver"),
        ("account_manager", "manager"),
        ("data_marketing", "org"),
    ],
)
def test_each_role_lands_on_its_dashboard(seeded, client_for, role, kind):
    client = client_for(role)
    first = client.get("/dashboard/")
    assert first.status_code == 302 and first.headers["Location"].endswith(f"/dashboard/{kind}/")
    page = client.get(f"/dashboard/{kind}/?start=2020-01-01&end={dt.date.today()}")
    assert page.status_code == 200
    assert "portal-chart" in page.get_data(as_text=True)


def test_account_manager_sees_own_target(seeded, client_for):
    html = client_for("account_manager").get("/dashboard/manager/").get_data(as_text=True)
    target = _options(html, "own-target")
    assert target["series"][0]["data"][0] == 10  # the target set for manager1
    assert target["series"][1]["data"][0] == 4


def test_dashboard_pages_read_no_raw_table(seeded, client_for, app):
    from sqlalchemy import event

    from portal.core.extensions import db as _db

    seen: list[str] = []

    def grab(conn, cursor, statement, *args):
        seen.append(statement.lower())

    client = client_for("hq_admin")
    with app.app_context():
        engine = _db.engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        for kind in ("org", "branch", "approver", "manager"):
            assert client.get(f"/dashboard/{kind}/").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    raw = [
        s
        for s in seen
        if any(
            f"from {t} " in s or f"join {t} " in s
            for t in ("application", "application_event", "offer", "sms_message")
        )
    ]
    assert raw == []
