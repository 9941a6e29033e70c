"""ODS data sets of the credit business (日终导出): whitelist, credit lines, applications.

Each entry maps a data-set name to the SELECT of one business date's rows, in a stable
order so a re-export of the same rows gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Select, or_, select

from models.applications import Application, ApplicationEvent
from models.credit import CreditLine
from models.whitelist import Offer


def _window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    t0 = dt.datetime.combine(day, dt.time())
    return t0, t0 + dt.timedelta(days=1)


def whitelist(day: dt.date) -> Select:
    """Every offer as of the export (白名单全量)."""
    _t0, t1 = _window(day)
    return (
        select(
            Offer.id.label("offer_id"),
            Offer.customer_id,
            Offer.product_id,
            Offer.institution_id,
            Offer.branch_id,
            Offer.manager_id,
            Offer.limit_amount,
            Offer.rate,
            Offer.expiry_date,
            Offer.status,
            Offer.applied_at,
            Offer.updated_at,
        )
        .where(Offer.created_at < t1)
        .order_by(Offer.id)
    )


def credit_line(day: dt.date) -> Select:
    """Credit lines (贷款账号/额度) opened up to the business date."""
    _t0, t1 = _window(day)
    return (
        select(
            CreditLine.line_no,
            CreditLine.application_id,
            CreditLine.customer_id,
            CreditLine.product_id,
            CreditLine.institution_id,
            CreditLine.branch_id,
            CreditLine.manager_id,
            CreditLine.limit_amount,
            CreditLine.used_amount,
            CreditLine.rate,
            CreditLine.expiry_date,
            CreditLine.status,
            CreditLine.core_ref,
            CreditLine.card_link_ref,
            CreditLine.opened_at,
            CreditLine.closed_at,
        )
        .where(CreditLine.created_at < t1)
        .order_by(CreditLine.id)
    )


def application(day: dt.date) -> Select:
    """Applications submitted or moved on the business date (消费易申请明细)."""
    t0, t1 = _window(day)
    moved = select(ApplicationEvent.application_id).where(
        ApplicationEvent.at >= t0, ApplicationEvent.at < t1
    )
    return (
        select(
            Application.app_no,
            Application.customer_id,
            Application.offer_id,
            Application.product_id,
            Application.institution_id,
            Application.branch_id,
            Application.manager_id,
            Application.amount,
            Application.offer_limit,
            Application.rate,
            Application.state,
            Application.reason_code,
            Application.submitted_at,
            Application.assigned_at,
            Application.closed_at,
        )
        .where(
            Application.submitted_at < t1,
            or_(Application.id.in_(moved), Application.submitted_at >= t0),
        )
        .order_by(Application.id)
    )


DATASETS: dict[str, Callable[[dt.date], Select]] = {
    "whitelist": whitelist,
    "credit_line": credit_line,
    "application": application,
}
