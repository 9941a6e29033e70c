"""Factories for approval tests: policies, approvers at any node, applications in approval."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update

from models.access.staff import StaffUser
from models.approvals import ApprovalCase, ApprovalPolicy
from portal.access.scoping import scope_for
from portal.approvals import decisions as approval_decision
from portal.approvals import policy as approval_policy
from portal.core.extensions import db
from tests.support.applications import make_application, org_id, product_for


def clear_policies() -> None:
    """Retire every configured policy (the built-in default stays) and cancel open cases,
    so no test (nor the permission matrix) finds another test's work in a queue."""
    db.session.execute(
        update(ApprovalCase).where(ApprovalCase.state == "open").values(state="cancelled")
    )
    db.session.execute(
        update(ApprovalPolicy)
        .where(ApprovalPolicy.code != approval_policy.DEFAULT_CODE)
        .values(active=False)
    )
    db.session.commit()


def settle_offers() -> None:
    """Mark the offers these tests created as synced to mobile banking, so a later test's
    cron process finds no stray delta to push (test data must not leak into other tests)."""
    from models.whitelist import Offer

    db.session.execute(
        update(Offer)
        .where(Offer.version > Offer.synced_version)
        .values(synced_version=Offer.version)
    )
    db.session.commit()


def policy(text: str, institution: str = "I01", product: bool = True, **kw) -> ApprovalPolicy:
    inst = org_id(institution)
    p = approval_policy.save(
        db.session,
        name=kw.pop("name", "测试策略"),
        bands_text=text,
        institution_id=inst,
        product_id=product_for(inst).id if product else None,
        **kw,
    )
    db.session.commit()
    return p


def user(username: str) -> StaffUser:
    return db.session.scalar(select(StaffUser).where(StaffUser.username == username))


def approver_at(node_code: str, username: str, limit: str) -> StaffUser:
    """An approver sitting on `node_code` (created once) with authority `limit`."""
    u = user(username)
    if u is None:
        from portal.access.staff import create_staff

        u = create_staff(
            username=username,
            roles=["approver"],
            org_code=node_code,
            password="Demo@2026",
            last_name="审批",
            first_name=username[-4:],
            staff_no="T" + username[-8:],
            phone="13900000000",
        )
    u.approval_limit = Decimal(limit)
    db.session.commit()
    return u


def in_approval(amount: str = "20000", branch: str = "I01B01", reviewer="manager1") -> int:
    """An application that passed review, submitted into approval; returns its case id."""
    from models.applications import Application

    app_id = make_application("review_passed", "manager1", branch=branch, reviewer=reviewer)
    a = db.session.get(Application, app_id)
    a.amount = Decimal(amount)
    a.offer_limit = max(a.offer_limit, Decimal(amount))
    db.session.commit()
    case = approval_decision.submit(db.session, app_id)
    db.session.commit()
    return case.id


def case(case_id: int) -> ApprovalCase:
    db.session.expire_all()
    return db.session.get(ApprovalCase, case_id)


def claim_and(fn: str, case_id: int, who: StaffUser, *args):
    from portal.approvals import case_queue as approval_queue

    scope = scope_for(who)
    approval_queue.claim(db.session, case_id, who, scope)
    return getattr(approval_decision, fn)(db.session, case_id, who, scope, *args)
