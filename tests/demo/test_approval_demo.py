"""The demo seeds example approval policies — 网点直批 (I01), 多级审批 (I02), 集中审批 (I03) —
valid (bands from 0 to the product's limit, no gaps or overlaps, last step able to approve
each band), idempotent; and with them a demo application at I01B01 is approved by
approver1 and goes on to disbursement without any manual configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from models.access.staff import StaffUser
from models.applications import Application
from models.approvals import ApprovalPolicy
from models.credit import CreditLine
from models.whitelist import Product
from portal.approvals import policy as approval_policy
from portal.demo import approvals as approval_demo
from portal.demo.seed import PROVINCE, seed_demo
from tests.support.approvals import case, claim_and, clear_policies, in_approval, user


@pytest.fixture(autouse=True)
def _clean(db):
    from portal.demo.whitelist import seed_products

    seed_products()  # `portal demo` seeds the products before the policies
    clear_policies()  # other tests' policies would stand in for the demo's
    yield
    clear_policies()  # and the demo's must not stand in for theirs


def _seeded(db) -> list[ApprovalPolicy]:
    return list(
        db.session.scalars(
            select(ApprovalPolicy).where(
                ApprovalPolicy.code.like("DEMO-%"), ApprovalPolicy.active.is_(True)
            )
        )
    )


def test_demo_policies_cover_the_three_modes_and_are_valid(db):
    approval_demo.seed_policies()
    policies = _seeded(db)
    by_inst = {}
    for p in policies:
        product = db.session.get(Product, p.product_id)
        approval_policy.validate(p.bands, product.limit_max)  # raises on a gap/overlap
        assert Decimal(p.bands[-1]["max"]) == product.limit_max
        assert p.purpose == "application" and p.disbursement == "auto"
        by_inst.setdefault(p.institution.code, set()).add(p.mode)
    assert len(policies) == 6  # 3 banks × 消费易/卡贷宝
    assert by_inst == {"I01": {"direct"}, "I02": {"multi"}, "I03": {"central"}}
    # the central queue has someone to work it
    central = db.session.scalar(select(StaffUser).where(StaffUser.username == "central_approver"))
    assert central.org_unit.code == PROVINCE[0] and central.approval_limit >= 300000


def test_seeding_twice_creates_nothing_new(db):
    approval_demo.seed_policies()
    count = db.session.scalar(select(func.count()).select_from(ApprovalPolicy))
    assert approval_demo.seed_policies() == 0
    assert seed_demo(customers=1, password="Demo@2026")["staff_created"] == 0
    assert db.session.scalar(select(func.count()).select_from(ApprovalPolicy)) == count
    # retired by an admin (or a test): still not re-created
    clear_policies()
    assert approval_demo.seed_policies() == 0


def test_demo_flow_approval_to_disbursement_with_the_seeded_policy(db):
    approval_demo.seed_policies()
    # an earlier test of this module retired them (a fresh demo database has them active)
    db.session.execute(
        update(ApprovalPolicy).where(ApprovalPolicy.code.like("DEMO-%")).values(active=True)
    )
    db.session.commit()
    cid = in_approval("30000")  # I01B01, 消费易, reviewed by manager1
    c = case(cid)
    assert c.policy.code == "DEMO-I01-XFY" and c.queue_level == "branch"
    assert claim_and("approve", cid, user("approver1"), "30000", "6.5") == "approved"
    app = db.session.get(Application, case(cid).subject_id)
    assert app.state == "disbursing"
    assert db.session.scalar(select(CreditLine.status).where(CreditLine.application_id == app.id))
