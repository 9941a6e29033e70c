"""Disbursement (出账) after final approval, through the outbox and the core-banking adapter.

The chain: open the credit line → link it to the customer's debit card (卡贷关联) →
sign the contract (签约) → SMS the customer. Every core call carries a key derived
from the application alone (``core:<app id>:<step>``), so however often a step is
tried — outbox retries, a staff retry after failure, a batch retry — the core applies
it once; on any retry the adapter first asks the core for the key's outcome and only
re-sends when nothing happened. Each step's reference is committed as soon as it is
known, so a crash never repeats a finished step. When attempts run out, or the core
refuses, the application ends in 出账失败 and staff retry it (retry_disburse).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.applications import Application
from models.approvals import ApprovalCase
from models.credit import Contract, CreditLine
from models.whitelist import Product
from portal.applications import lifecycle
from portal.background import outbox
from portal.credit.lines import record_event
from portal.integrations import core_banking
from portal.integrations.base import IntegrationError

KIND = "credit.disburse"


def key(app_id: int, step: str) -> str:
    return f"core:{app_id}:{step}"


def prepare(session: Session, app: Application, case: ApprovalCase, amount, rate) -> CreditLine:
    """The credit line row (status opening) for an approved application."""
    line = session.scalar(select(CreditLine).where(CreditLine.application_id == app.id))
    if line is not None:
        return line
    product = session.get(Product, app.product_id)
    now = dt.datetime.now()
    line = CreditLine(
        line_no="ED" + now.strftime("%y%m%d") + secrets.token_hex(5).upper(),
        application_id=app.id,
        customer_id=app.customer_id,
        product_id=app.product_id,
        branch_id=app.branch_id,
        institution_id=app.institution_id,
        manager_id=app.manager_id,
        limit_amount=Decimal(amount),
        used_amount=Decimal(0),
        rate=Decimal(rate),
        expiry_date=now.date() + dt.timedelta(days=round(365 * product.term_months / 12)),
        status="opening",
        created_at=now,
        version=1,
    )
    session.add(line)
    session.flush()
    return line


def _announce(session: Session, app_id: int, version: int, institution_id: int, retry=False):
    outbox.add(
        session,
        KIND,
        f"disburse:{app_id}:v{version}",
        ref_id=app_id,
        payload={"application_id": app_id, "retry": retry},
        institution_id=institution_id,
    )


def start(session: Session, app_id: int) -> None:
    """approved → disbursing, and the outbox item that runs the chain (caller commits)."""
    result = lifecycle.transition(
        app_id, "disburse", lifecycle.SYSTEM_ACTOR, session=session, commit=False
    )
    inst = session.scalar(select(Application.institution_id).where(Application.id == app_id))
    _announce(session, app_id, result.version, inst)


def retry(session: Session, app_id: int, actor: lifecycle.Actor) -> None:
    """Staff retry of a failed disbursement: same core keys, so nothing happens twice."""
    try:
        result = lifecycle.transition(
            app_id, "retry_disburse", actor, "重新出账", session=session, commit=False
        )
        line = session.scalar(select(CreditLine).where(CreditLine.application_id == app_id))
        if line is not None and line.status == "failed":
            line.status = "opening"
        inst = session.scalar(select(Application.institution_id).where(Application.id == app_id))
        _announce(session, app_id, result.version, inst, retry=True)
        session.commit()
    except Exception:
        session.rollback()
        raise
    outbox.kick()


def _step(op: str, app_id: int, step: str, payload: dict, is_retry: bool) -> dict:
    return core_banking.perform(op, key(app_id, step), payload, is_retry=is_retry)


def run_chain(session: Session, app_id: int, *, is_retry: bool) -> dict:
    """Perform the remaining steps of one application's chain; returns the references."""
    app = session.get(Application, app_id)
    if app.state == "active":
        return {"already": "active"}
    if app.state != "disbursing":
        raise IntegrationError(f"申请状态为{app.state_label}，不能出账")
    line = session.scalar(select(CreditLine).where(CreditLine.application_id == app_id))
    base = {"app_no": app.app_no, "customer_id": app.customer_id, "line_no": line.line_no}
    if not line.core_ref:
        res = _step(
            "open_credit_line",
            app_id,
            "open",
            {
                **base,
                "limit": str(line.limit_amount),
                "rate": str(line.rate),
                "expiry": line.expiry_date.isoformat(),
            },
            is_retry,
        )
        line.core_ref = res["ref"]
        session.commit()
    if not line.card_link_ref:
        res = _step("link_card", app_id, "link", {**base, "line_ref": line.core_ref}, is_retry)
        line.card_link_ref = res["ref"]
        session.commit()
    contract = session.scalar(select(Contract).where(Contract.application_id == app_id))
    if contract is None:
        res = _step(
            "sign_contract",
            app_id,
            "sign",
            {**base, "line_ref": line.core_ref, "contract_ref": app.contract_ref},
            is_retry,
        )
        session.add(
            Contract(
                contract_no="HT" + app.app_no[-20:],
                application_id=app_id,
                credit_line_id=line.id,
                customer_id=app.customer_id,
                branch_id=app.branch_id,
                institution_id=app.institution_id,
                manager_id=app.manager_id,
                amount=line.limit_amount,
                status="signed",
                core_ref=res["ref"],
                signed_at=dt.datetime.now(),
            )
        )
        session.commit()
    _activate(session, app, line)
    return {"line_ref": line.core_ref, "card_link_ref": line.card_link_ref}


def _activate(session: Session, app: Application, line: CreditLine) -> None:
    from portal.applications.effects import product_name
    from portal.sms import messages as sms

    now = dt.datetime.now()
    lifecycle.transition(app.id, "disbursed", lifecycle.SYSTEM_ACTOR, session=session, commit=False)
    record_event(session, line, "open", to_status="active", at=now, new_limit=line.limit_amount)
    line.status, line.opened_at = "active", now
    sms.queue_to_customers(
        session,
        "line_opened",
        [app.customer_id],
        {"product": product_name(session, app.product_id), "limit": f"{line.limit_amount:,.2f}"},
        key_prefix=f"line-opened:{app.id}",
    )
    session.commit()


def fail(session: Session, app_id: int, error: str) -> None:
    """End in 出账失败 (staff retry); the line stays unopened or half-done in core."""
    session.rollback()
    app = session.get(Application, app_id)
    if app is None or app.state != "disbursing":
        return
    lifecycle.transition(
        app_id, "disburse_fail", lifecycle.SYSTEM_ACTOR, error[:300], session=session, commit=False
    )
    line = session.scalar(select(CreditLine).where(CreditLine.application_id == app_id))
    if line is not None:
        line.status = "failed"
    session.commit()


def handle(items) -> list:
    """Outbox handler: one chain per item; the last failed attempt ends in 出账失败."""
    from portal.core.extensions import db

    outcomes = []
    for item in items:
        app_id = item.payload["application_id"]
        attempts, max_attempts = item.attempts, item.max_attempts
        try:
            retry = attempts > 1 or bool(item.payload.get("retry"))
            outcomes.append(run_chain(db.session, app_id, is_retry=retry))
        except IntegrationError as exc:
            if exc.retryable and attempts < max_attempts:
                db.session.rollback()
                outcomes.append(exc)
            else:
                fail(db.session, app_id, str(exc))
                outcomes.append({"failed": str(exc)[:300]})
    return outcomes
