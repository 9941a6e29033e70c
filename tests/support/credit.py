"""Factories for credit-line tests: an opened line (as the disbursement chain leaves it)."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from models.applications import Application
from models.credit import Contract, CreditLine
from portal.core.extensions import db
from tests.support.applications import make_application


def make_line(
    *,
    limit: str = "20000",
    used: str = "0",
    expiry: dt.date | None = None,
    status: str = "active",
    core_ref: str | None = None,
    branch: str = "I01B01",
) -> CreditLine:
    app_id = make_application("active", "manager1", branch=branch)
    a = db.session.get(Application, app_id)
    tag = secrets.token_hex(4).upper()
    line = CreditLine(
        line_no=f"EDF{app_id}{tag}"[:32],
        application_id=app_id,
        customer_id=a.customer_id,
        product_id=a.product_id,
        branch_id=a.branch_id,
        institution_id=a.institution_id,
        manager_id=a.manager_id,
        limit_amount=Decimal(limit),
        used_amount=Decimal(used),
        rate=Decimal("6.5"),
        expiry_date=expiry or dt.date(2030, 12, 31),
        status=status,
        core_ref=core_ref or f"CBF{app_id}{tag}",
        card_link_ref="CBL" + tag,
        opened_at=dt.datetime.now(),
        created_at=dt.datetime.now(),
    )
    db.session.add(line)
    db.session.commit()
    return line


def _line(db, status="active", branch="I01B01", manager="manager1") -> CreditLine:
    """An opened credit line with its contract (as the disbursement chain leaves them)."""
    import datetime as dt

    app_id = make_application("active", manager, branch=branch)
    a = db.session.get(Application, app_id)
    line = CreditLine(
        line_no="EDT" + str(app_id),
        application_id=app_id,
        customer_id=a.customer_id,
        product_id=a.product_id,
        branch_id=a.branch_id,
        institution_id=a.institution_id,
        manager_id=a.manager_id,
        limit_amount=Decimal("20000"),
        used_amount=Decimal("500"),
        rate=Decimal("6.5"),
        expiry_date=dt.date(2027, 12, 31),
        status=status,
        core_ref="CB1",
        card_link_ref="CB2",
        created_at=dt.datetime.now(),
    )
    db.session.add(line)
    db.session.flush()
    db.session.add(
        Contract(
            contract_no="HTT" + str(app_id),
            application_id=app_id,
            credit_line_id=line.id,
            customer_id=a.customer_id,
            branch_id=a.branch_id,
            institution_id=a.institution_id,
            manager_id=a.manager_id,
            amount=line.limit_amount,
            status="signed",
            core_ref="CB3",
            signed_at=dt.datetime.now(),
        )
    )
    db.session.commit()
    return line
