"""Credit bureau adapter (征信): no inquiry without a valid authorization; every one logged."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from models.customers import Customer
from models.integrations import CreditAuthorization, CreditInquiry
from portal.core.extensions import db
from portal.integrations.base import IntegrationError, PermanentError, call

CONFIG_KEY = "CREDIT_BUREAU_URL"


class NoAuthorization(PermanentError):
    """No valid credit-bureau inquiry authorization (征信查询授权书) on file."""


def _log(customer_id: int, purpose: str, requested_by, outcome: str, **extra) -> None:
    # own transaction: a refused or failed inquiry is logged even if the caller rolls back
    with db.engine.begin() as conn:
        conn.execute(
            insert(CreditInquiry).values(
                customer_id=customer_id,
                purpose=purpose,
                requested_by=requested_by,
                outcome=outcome,
                at=dt.datetime.now(),
                **extra,
            )
        )


def valid_authorization(customer_id: int, purpose: str) -> CreditAuthorization | None:
    today = dt.date.today()
    return db.session.scalars(
        select(CreditAuthorization)
        .where(
            CreditAuthorization.customer_id == customer_id,
            CreditAuthorization.purpose == purpose,
            CreditAuthorization.revoked.is_(False),
            CreditAuthorization.valid_until >= today,
        )
        .order_by(CreditAuthorization.signed_at.desc())
    ).first()


def inquire(customer_id: int, purpose: str = "loan_approval", requested_by=None) -> dict:
    """Query the bureau for one customer; refuses (and logs) without an authorization."""
    auth = valid_authorization(customer_id, purpose)
    if auth is None:
        _log(customer_id, purpose, requested_by, "refused", reason="无有效征信查询授权书")
        raise NoAuthorization("无有效征信查询授权书，拒绝查询")
    customer = db.session.get(Customer, customer_id)
    body = {
        "cert_no": customer.id_number,
        "name": customer.name,
        "authorization_no": auth.authorization_no,
        "purpose": purpose,
    }
    try:
        report = call(CONFIG_KEY, "POST", "/bureau/inquiries", json=body)
    except IntegrationError as exc:
        _log(
            customer_id,
            purpose,
            requested_by,
            "error",
            authorization_id=auth.id,
            reason=str(exc)[:200],
        )
        raise
    _log(
        customer_id,
        purpose,
        requested_by,
        "ok",
        authorization_id=auth.id,
        report_ref=report.get("report_no"),
    )
    return report
