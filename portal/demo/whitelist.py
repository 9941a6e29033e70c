"""Demo data for the whitelist: products per institution, a blacklist sample, offers, a campaign.

Idempotent. The offers go through the real import service (a generated workbook
imported as marketing1), so the demo shows an import batch with an error report.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from models.sms.campaigns import Campaign
from models.whitelist import BlacklistEntry, Offer, Product
from portal.core.extensions import db

PRODUCTS = [
    # code, name, limit min/max, rate min/max (annual %), term months, validity days
    ("XFY", "消费易", "10000", "300000", "4.35", "18", 12, 180),
    ("KDB", "卡贷宝", "5000", "200000", "5", "15", 36, 365),
]


def seed_products() -> int:
    made = 0
    insts = db.session.scalars(select(OrgUnit).where(OrgUnit.kind == "institution")).all()
    have = set(db.session.execute(select(Product.institution_id, Product.code)).all())
    for inst in insts:
        for code, name, lmin, lmax, rmin, rmax, term, days in PRODUCTS:
            if (inst.id, code) in have:
                continue
            db.session.add(
                Product(
                    code=code,
                    name=name,
                    institution_id=inst.id,
                    limit_min=Decimal(lmin),
                    limit_max=Decimal(lmax),
                    rate_min=Decimal(rmin),
                    rate_max=Decimal(rmax),
                    term_months=term,
                    validity_days=days,
                    active=True,
                )
            )
            made += 1
    db.session.commit()
    return made


def seed_blacklist(count: int = 20) -> int:
    """A few existing customers put on the blacklist by risk monitoring."""
    if db.session.scalar(select(func.count()).select_from(BlacklistEntry)):
        return 0
    rows = db.session.execute(
        select(Customer.id_number, Customer.name, Customer.institution_id)
        .order_by(Customer.id.desc())
        .limit(count)
    ).all()
    for number, name, inst in rows:
        db.session.add(
            BlacklistEntry(
                id_number=number,
                name=name,
                reason="风险监测：多头借贷",
                source="风险监测系统",
                institution_id=inst,
            )
        )
    db.session.commit()
    return len(rows)


def seed_campaign() -> int:
    inst = db.session.scalars(select(OrgUnit).where(OrgUnit.code == "I01")).first()
    if inst is None or db.session.scalar(select(func.count()).select_from(Campaign)):
        return 0
    product = db.session.scalars(
        select(Product).where(Product.institution_id == inst.id, Product.code == "XFY")
    ).first()
    db.session.add(
        Campaign(
            name="消费易月度营销短信",
            institution_id=inst.id,
            product_id=product.id if product else None,
            template_code="offer_marketing",
        )
    )
    db.session.commit()
    return 1


def seed_offers(rows: int = 500, folder: Path | None = None) -> int:
    """Import a generated whitelist for I01 as marketing1 (in-process), with a few bad rows."""
    from portal.whitelist import importing as whitelist_import
    from portal.whitelist import sample as whitelist_sample

    if db.session.scalar(select(func.count()).select_from(Offer)):
        return 0
    user = db.session.scalars(select(StaffUser).where(StaffUser.username == "marketing1")).first()
    if user is None:
        return 0
    branches = [
        c
        for c in db.session.scalars(
            select(OrgUnit.code).where(OrgUnit.kind == "branch", OrgUnit.code.like("I01B%"))
        )
    ]
    data = list(
        whitelist_sample.rows(rows, branches, [("XFY", 10000, 300000, 4.35, 18)], seed=2026)
    )
    # existing customers of I01 too, so the pages link offers to known profiles
    known = db.session.execute(
        select(Customer.id_number, Customer.name, Customer.mobile, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == Customer.branch_id)
        .where(OrgUnit.code.like("I01B%"))
        .limit(100)
    ).all()
    rng = random.Random(7)
    expiry = (dt.date.today() + dt.timedelta(days=90)).isoformat()
    for number, name, mobile, code in known:
        data.append([number, name, mobile, code, "XFY", 50000.0, 6.5, expiry, ""])
    data.append(["440103199001011234", "错号", "13800000000", branches[0], "XFY", 1, 1, "", ""])
    rng.shuffle(data)
    folder = folder or whitelist_import.import_dir()
    path = whitelist_sample.write_workbook(folder / "demo-whitelist.xlsx", data)
    with path.open("rb") as fh:
        imp, _msg = whitelist_import.submit(
            db.session, user, fh, "示例白名单.xlsx", "valid_only", False, enqueue_job=False
        )
    result = whitelist_import.run_import(imp.id)
    return result.get("offers_created", 0)


def seed_whitelist_demo(offers: int = 500) -> dict[str, int]:
    return {
        "products": seed_products(),
        "blacklist": seed_blacklist(),
        "offers": seed_offers(offers),
        "campaigns": seed_campaign(),
    }
