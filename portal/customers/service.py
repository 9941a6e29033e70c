"""Customer services: validation and derivation used by every entry path (form, import, API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.customers import Customer
from portal.access import audit
from portal.access.scoping import Scope, apply_scope
from portal.core.identity import IdentityError, normalize_mobile, parse_resident_id


def apply_identity(customer: Customer, id_number: Any | None, mobile: Any | None) -> None:
    """Validate and set ID number (with derived birth date, gender) and mobile."""
    if id_number is not None:
        rid = parse_resident_id(id_number)
        customer.id_number = rid.number
        customer.birth_date = rid.birth_date
        customer.gender = rid.gender
    if mobile is not None and str(mobile).strip() != "":
        customer.mobile = normalize_mobile(mobile)


def sync_org(customer: Customer) -> None:
    """Keep the denormalised institution in step with the branch."""
    if customer.branch is not None:
        if customer.branch.kind != "branch":
            raise IdentityError("客户只能归属到网点")
        customer.institution_id = customer.branch.institution_id


def id_number_taken(session: Session, id_number: str, exclude_id: int | None = None) -> bool:
    stmt = select(Customer.id).where(Customer.id_number == id_number)
    if exclude_id:
        stmt = stmt.where(Customer.id != exclude_id)
    return session.execute(stmt).first() is not None


def unmask(session: Session, customer: Customer, reason: str) -> dict[str, str]:
    """Return the clear ID number and mobile, recording who looked and why."""
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise IdentityError("请填写查看明文的事由（至少 4 个字）")
    audit.record(
        session,
        "unmask",
        "customer",
        customer.id,
        {"reason": reason[:200], "fields": ["id_number", "mobile"]},
    )
    session.commit()
    return {"id_number": customer.id_number, "mobile": customer.mobile or ""}


def scoped_customers(session: Session, scope: Scope | None = None, limit: int | None = None):
    stmt = apply_scope(select(Customer).order_by(Customer.id), Customer, scope)
    if limit:
        stmt = stmt.limit(limit)
    return session.execute(stmt).scalars()


def branch_choices(session: Session, scope: Scope | None = None) -> list[OrgUnit]:
    stmt = apply_scope(
        select(OrgUnit).where(OrgUnit.kind == "branch").order_by(OrgUnit.code), OrgUnit, scope
    )
    return list(session.execute(stmt).scalars())
