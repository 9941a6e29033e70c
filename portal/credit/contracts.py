"""Contracts (合同): termination (解约) through the core-banking adapter, via the outbox.

Terminating marks the contract 解约中 and announces the core call in the same
transaction; the handler calls core banking with a key per contract (so a repeat
changes nothing), then marks the contract terminated and closes its credit line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from models.credit import Contract, CreditLine
from portal.background import outbox
from portal.credit.lines import record_event
from portal.integrations import core_banking
from portal.integrations.base import IntegrationError

KIND = "core.contract_termination"


class ContractError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def terminate(session: Session, contract: Contract, actor_id: int | None, reason: str) -> None:
    """Ask core banking to terminate the contract (caller loaded it through the scope)."""
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise ContractError("请填写解约原因")
    done = session.execute(
        update(Contract)
        .where(Contract.id == contract.id, Contract.status == "signed")
        .values(status="terminating", terminate_reason=reason[:300])
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        session.rollback()
        raise ContractError("该合同不是“已签约”状态，不能解约")
    from portal.access import audit

    audit.record(session, "contract_terminate", "contract", contract.id, {"reason": reason})
    outbox.add(
        session,
        KIND,
        f"core:contract:{contract.id}:terminate",
        ref_id=contract.id,
        payload={"contract_id": contract.id, "actor_id": actor_id},
        institution_id=contract.institution_id,
    )
    session.commit()
    outbox.kick()


def _perform(session: Session, item: Any) -> dict:
    contract = session.get(Contract, item.payload["contract_id"])
    if contract.status == "terminated":
        return {"already": "terminated"}
    res = core_banking.perform(
        "terminate_contract",
        item.idempotency_key,
        {"contract_no": contract.contract_no, "contract_ref": contract.core_ref},
        is_retry=item.attempts > 1,
    )
    now = dt.datetime.now()
    contract.status, contract.terminated_at = "terminated", now
    line = session.get(CreditLine, contract.credit_line_id)
    if line is not None and line.status != "closed":
        record_event(
            session,
            line,
            "close",
            "合同解约",
            item.payload.get("actor_id"),
            to_status="closed",
            at=now,
        )
        line.status, line.closed_at = "closed", now
    session.commit()
    return {"ref": res.get("ref")}


def handle(items) -> list:
    from portal.core.extensions import db

    outcomes = []
    for item in items:
        try:
            outcomes.append(_perform(db.session, item))
        except IntegrationError as exc:
            db.session.rollback()
            outcomes.append(exc)
    return outcomes
