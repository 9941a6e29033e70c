"""Demo approval policies (演示审批策略): the three modes of the seed, one per demo bank.

* I01 青禾农村商业银行 — 网点直批: one step at the application's branch (approver1 at
  I01B01 holds ¥200,000; above it the case escalates to the institution's approver);
* I02 丰源农村信用合作联社 — 多级审批: branch then institution, large amounts institution
  then the province's central queue;
* I03 溪南村镇银行 — 集中审批: every application in the central queue (central_approver).

One policy per institution × demo product, each band set ending at the product's limit,
saved through the policy service (so the editor's validation applies). Stable codes make
seeding idempotent: a code that exists (any version, even retired) is never re-created,
and an institution × product that already has an active policy of its own is left alone.
"""

from __future__ import annotations

from sqlalchemy import select

from models.access.org import OrgUnit
from models.approvals import ApprovalPolicy
from models.whitelist import Product
from portal.approvals import policy as approval_policy
from portal.core.extensions import db

# institution code -> (policy name, {product code: editor text})
DEMO_POLICIES = {
    "I01": (
        "网点直批（演示）",
        {"XFY": "0-300000: 网点 300000", "KDB": "0-200000: 网点 200000"},
    ),
    "I02": (
        "多级审批（演示）",
        {
            "XFY": "0-100000: 网点 100000 > 机构 300000\n100000-300000: 机构 300000 > 集中 300000",
            "KDB": "0-100000: 网点 100000 > 机构 200000\n100000-200000: 机构 200000 > 集中 200000",
        },
    ),
    "I03": (
        "集中审批（演示）",
        {"XFY": "0-300000: 集中 300000", "KDB": "0-200000: 集中 200000"},
    ),
}


def code_for(inst_code: str, product_code: str) -> str:
    return f"DEMO-{inst_code}-{product_code}"


def seed_policies() -> int:
    """Create the demo policies that are missing; returns how many were created."""
    made = 0
    insts = {
        o.code: o
        for o in db.session.scalars(select(OrgUnit).where(OrgUnit.code.in_(DEMO_POLICIES)))
    }
    codes = set(db.session.scalars(select(ApprovalPolicy.code).distinct()))
    for inst_code, (name, texts) in DEMO_POLICIES.items():
        inst = insts.get(inst_code)
        if inst is None:
            continue
        for product_code, text in texts.items():
            code = code_for(inst_code, product_code)
            product = db.session.scalar(
                select(Product).where(
                    Product.institution_id == inst.id, Product.code == product_code
                )
            )
            if code in codes or product is None:
                continue
            try:
                approval_policy.save(
                    db.session,
                    name=f"{product.name}{name}",
                    bands_text=text,
                    institution_id=inst.id,
                    product_id=product.id,
                    code=code,
                )
            except approval_policy.PolicyError:
                db.session.rollback()  # e.g. the bank configured its own policy: keep it
                continue
            db.session.commit()
            made += 1
    return made
