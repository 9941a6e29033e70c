"""Demo data for the dashboards (演示数据): a month of application histories, the month's
marketing targets, and the summary tables rebuilt — so 经营看板 shows figures at once."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from decimal import Decimal

from sqlalchemy import func, insert, select

from models.access.staff import StaffUser
from models.applications import Application, ApplicationEvent
from models.reports import MarketingTarget
from models.whitelist import Offer
from portal.core.extensions import db
from portal.reports import aggregates

_PATHS = [
    [
        "submit",
        "assign",
        "start_review",
        "pass",
        "submit_approval",
        "approve",
        "disburse",
        "disbursed",
    ],
    ["submit", "assign", "start_review", "reject"],
    ["submit", "assign", "start_review", "pass", "submit_approval"],
    ["submit", "assign"],
]
_TO = {
    "submit": "submitted",
    "assign": "assigned",
    "start_review": "under_review",
    "pass": "review_passed",
    "submit_approval": "in_approval",
    "approve": "approved",
    "disburse": "disbursing",
    "disbursed": "active",
    "reject": "rejected",
}


def seed_report_demo(per_branch: int = 12, seed: int = 7) -> dict:
    """Idempotent: does nothing once demo applications exist."""
    if db.session.scalar(select(func.count()).where(Application.channel == "demo")):
        return {"demo_applications": 0}
    rng = random.Random(seed)
    offers = db.session.scalars(select(Offer).where(Offer.manager_id.is_not(None))).all()
    by_branch: dict[int, list[Offer]] = {}
    for o in offers:
        by_branch.setdefault(o.branch_id, []).append(o)
    made = 0
    now = dt.datetime.now()
    for branch_offers in by_branch.values():
        for o in rng.sample(branch_offers, min(per_branch, len(branch_offers))):
            path = rng.choices(_PATHS, weights=[6, 2, 1, 1])[0]
            at = now - dt.timedelta(days=rng.randrange(0, 28), hours=rng.randrange(1, 9))
            start, steps = at, []
            for action in path:
                steps.append((action, at))
                at += dt.timedelta(minutes=rng.choice([1, 2, 3, 5, 8, 30]))
            app_id = db.session.execute(
                insert(Application)
                .values(
                    app_no=f"D{start:%Y%m%d}{secrets.token_hex(4)}",
                    channel="demo",
                    channel_request_id=secrets.token_hex(8),
                    offer_id=o.id,
                    customer_id=o.customer_id,
                    product_id=o.product_id,
                    branch_id=o.branch_id,
                    institution_id=o.institution_id,
                    manager_id=o.manager_id,
                    amount=o.limit_amount,
                    offer_limit=o.limit_amount,
                    rate=o.rate,
                    state=_TO[path[-1]],
                    version=len(path),
                    auth_ref="DEMO",
                    auth_version="v1",
                    auth_signed_at=start,
                    contract_ref="DEMO",
                    contract_hash="0" * 64,
                    submitted_at=start,
                    assigned_at=start,
                    last_action_at=steps[-1][1],
                )
                .returning(Application.id)
            ).scalar_one()
            prev = None
            for version, (action, when) in enumerate(steps, start=1):
                db.session.execute(
                    insert(ApplicationEvent).values(
                        application_id=app_id,
                        action=action,
                        from_state=prev,
                        to_state=_TO[action],
                        version=version,
                        actor_kind="system",
                        at=when,
                    )
                )
                prev = _TO[action]
            made += 1
    _targets()
    db.session.commit()
    aggregates.rebuild(db.session)
    return {"demo_applications": made}


def _targets() -> None:
    month = dt.date.today().strftime("%Y-%m")
    managers = db.session.scalars(select(StaffUser).where(StaffUser.org_unit_id.is_not(None)))
    have = set(
        db.session.execute(
            select(MarketingTarget.branch_id, MarketingTarget.manager_id).where(
                MarketingTarget.month == month
            )
        ).all()
    )
    for m in managers:
        if not any(r.name == "account_manager" for r in m.roles) or (m.org_unit_id, m.id) in have:
            continue
        db.session.add(
            MarketingTarget(
                month=month,
                institution_id=m.institution_id or m.org_unit.institution_id,
                branch_id=m.org_unit_id,
                manager_id=m.id,
                applications=8,
                approved_amount=Decimal("300000"),
                updated_at=dt.datetime.now(),
            )
        )
