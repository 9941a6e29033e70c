"""Channel reads and the customer's withdrawal: offer lookup, 查询申请进度, 客户撤回."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.applications import Application, ApplicationEvent
from models.customers import Customer
from models.whitelist import BlacklistEntry, Offer, Product
from portal.applications import effects as application_effects
from portal.applications import lifecycle
from portal.channel import request_bodies as intake_input
from portal.channel.intake import idempotent
from portal.channel.keys import KeyInfo
from portal.channel.request_bodies import ChannelError


def lookup_offers(session: Session, key: KeyInfo, body: Any) -> dict:
    """The customer's offers that can be applied for (ID number + mobile must both match)."""
    number, mobile = intake_input.identity(intake_input.obj(body))
    stmt = (
        select(
            Offer.id, Offer.limit_amount, Offer.rate, Offer.expiry_date, Product.code, Product.name
        )
        .join(Customer, Customer.id == Offer.customer_id)
        .join(Product, Product.id == Offer.product_id)
        .where(
            Customer.id_number == number,
            Customer.mobile == mobile,
            Offer.status.in_(("pending", "active")),
            Offer.expiry_date >= dt.date.today(),
        )
        .order_by(Offer.id)
    )
    if key.institution_id:
        stmt = stmt.where(Offer.institution_id == key.institution_id)
    rows = session.execute(stmt).all()
    blacklisted = session.scalar(
        select(BlacklistEntry.id).where(BlacklistEntry.id_number == number)
    )
    if not rows or blacklisted:
        raise ChannelError(404, "OFFER_NOT_FOUND", "未查询到可申请的预授信额度")
    return {
        "code": "OK",
        "offers": [
            {
                "offer_id": r.id,
                "product_code": r.code,
                "product_name": r.name,
                "limit": str(r.limit_amount),
                "rate": str(r.rate),
                "expiry_date": r.expiry_date.isoformat(),
            }
            for r in rows
        ],
    }


def _channel_app(session: Session, key: KeyInfo, app_no: str) -> Any:
    stmt = select(*lifecycle._ROW, Application.amount, Application.submitted_at).where(
        Application.app_no == app_no[:32], Application.channel == key.channel
    )
    if key.institution_id:
        stmt = stmt.where(Application.institution_id == key.institution_id)
    row = session.execute(stmt).first()
    if row is None:
        raise ChannelError(404, "APPLICATION_NOT_FOUND", "申请不存在")
    return row


def status(session: Session, key: KeyInfo, app_no: str) -> dict:
    """查询申请进度: the current status and each customer-visible step with its time."""
    row = _channel_app(session, key, app_no)
    events = session.execute(
        select(ApplicationEvent.to_state, ApplicationEvent.at)
        .where(ApplicationEvent.application_id == row.id)
        .order_by(ApplicationEvent.id)
    ).all()
    progress, last = [], None
    for ev in events:
        code, label = application_effects.channel_status(ev.to_state)
        if code != last:
            progress.append({"status": code, "label": label, "at": ev.at.isoformat("T", "seconds")})
            last = code
    code, label = application_effects.channel_status(row.state)
    return {
        "code": "OK",
        "application": {
            "app_no": row.app_no,
            "status": code,
            "status_label": label,
            "amount": str(row.amount),
            "submitted_at": row.submitted_at.isoformat("T", "seconds"),
            "progress": progress,
        },
    }


def withdraw(session: Session, key: KeyInfo, app_no: str, body: Any) -> tuple[int, dict]:
    """The customer withdraws (客户撤回) while the application is not yet decided."""
    body = intake_input.obj(body)
    rid = intake_input.request_id(body)
    reason = intake_input.reason(body)

    def work():
        row = _channel_app(session, key, app_no)
        try:
            lifecycle.transition(
                row.id,
                "withdraw",
                lifecycle.CHANNEL_ACTOR,
                reason or "客户在手机银行撤回",
                session=session,
                commit=False,
            )
        except lifecycle.TransitionError as exc:
            raise ChannelError(409, "ILLEGAL_TRANSITION", exc.message) from None
        code, label = application_effects.channel_status("withdrawn")
        return 200, {
            "code": "OK",
            "message": "申请已撤回",
            "request_id": rid,
            "application": {"app_no": row.app_no, "status": code, "status_label": label},
        }

    return idempotent(
        session, key, (rid, "withdraw", intake_input.fingerprint(body, "withdraw", app_no)), work
    )
