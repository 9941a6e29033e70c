"""The demo data set is realistic: valid generated identities, the org tree and staff the README lists."""

from sqlalchemy import func, select

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from portal.core.identity import normalize_mobile, parse_resident_id
from portal.demo.seed import FIXED_USERS, seed_demo


def test_every_demo_customer_has_a_valid_id_and_mobile(db):
    customers = db.session.execute(select(Customer)).scalars().all()
    assert len(customers) >= 300
    for c in customers:
        rid = parse_resident_id(c.id_number)
        assert rid.birth_date == c.birth_date and rid.gender == c.gender
        assert normalize_mobile(c.mobile) == c.mobile
        assert c.institution_id == c.branch.institution_id


def test_org_tree_and_staff_shape(db):
    kinds = dict(
        db.session.execute(select(OrgUnit.kind, func.count()).group_by(OrgUnit.kind)).all()
    )
    assert kinds == {"province": 1, "institution": 3, "branch": 12}
    # the seed numbers its staff S1001…; other tests add users of their own
    staff = [
        u
        for u in db.session.execute(select(StaffUser)).scalars()
        if (u.staff_no or "").startswith("S1")
    ]
    assert 55 <= len(staff) <= 65
    names = {u.username for u in staff}
    assert {u for u, *_ in FIXED_USERS} <= names
    roles = {r.name for u in staff for r in u.roles}
    assert roles >= {
        "hq_admin",
        "institution_admin",
        "data_marketing",
        "account_manager",
        "approver",
        "branch_manager",
        "auditor",
    }


def test_seeding_twice_adds_nothing(db):
    before = db.session.execute(select(func.count()).select_from(Customer)).scalar_one()
    summary = seed_demo(customers=before, password="Demo@2026")
    assert summary["staff_created"] == 0 and summary["customers_created"] == 0
