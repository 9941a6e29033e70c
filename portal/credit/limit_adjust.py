"""Limit adjustment (额度调整) sent to core banking, after its approval, through the outbox.

The approval's last step (inside the decision transaction) records the approved limit
on the line as ``pending_limit`` (调整待核心确认), writes a history row and the outbox
item ``credit.limit_adjust`` with one idempotency key per approval case
(``core:line:<line>:adjust:<case>``). The handler calls the core adapter's
``adjust_limit``; on any attempt after a failure (a timeout may have taken effect) the
adapter first asks the core for the key's outcome and only re-sends when nothing
happened. When the core confirms, the limit (and so the available amount) changes and
the pending mark clears. A refusal (4xx) or the last failed attempt dead-letters the
item: the line shows the failure, and staff retry it from the line page or the job
monitor (same key, so the core still applies it once).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.background import OutboxItem
from models.credit import CreditLine
from portal.background import outbox
from portal.credit.lines import record_event
from portal.integrations import core_banking
from portal.integrations.base import IntegrationError

KIND = "credit.limit_adjust"


def key(line_id: int, case_id: int) -> str:
    return f"core:line:{line_id}:adjust:{case_id}"


def approved(session: Session, line: CreditLine, case_id: int, amount: Decimal, actor_id) -> None:
    """The approval passed: mark the change pending and announce the core call (no commit)."""
    record_event(
        session,
        line,
        "adjust_approved",
        "额度调整审批通过，待核心系统确认",
        actor_id,
        old_limit=line.limit_amount,
        new_limit=amount,
    )
    line.pending_limit, line.version = amount, line.version + 1
    outbox.add(
        session,
        KIND,
        key(line.id, case_id),
        ref_id=line.id,
        payload={"line_id": line.id, "case_id": case_id, "new_limit": str(amount)},
        institution_id=line.institution_id,
    )


def _perform(session: Session, item: Any) -> dict:
    line = session.get(CreditLine, item.payload["line_id"])
    amount = Decimal(item.payload["new_limit"])
    if line.pending_limit is None:
        return {"already": "applied"}
    res = core_banking.perform(
        "adjust_limit",
        item.idempotency_key,
        {"line_ref": line.core_ref, "line_no": line.line_no, "new_limit": str(amount)},
        # after any failed attempt (a late reply may have taken effect) ask the core first
        is_retry=item.attempts > 1 or item.last_error is not None,
    )
    record_event(
        session,
        line,
        "adjust",
        f"核心系统已确认额度调整（{res.get('ref', '')}）",
        old_limit=line.limit_amount,
        new_limit=amount,
    )
    line.limit_amount, line.pending_limit, line.version = amount, None, line.version + 1
    session.commit()
    return {"ref": res.get("ref")}


def handle(items) -> list:
    """Outbox handler: one core call per item; errors go back to the outbox to classify."""
    from portal.core.extensions import db

    outcomes = []
    for item in items:
        try:
            outcomes.append(_perform(db.session, item))
        except IntegrationError as exc:
            db.session.rollback()
            if exc.retryable and item.attempts < item.max_attempts:
                _note(db.session, item, "adjust_retry", f"核心系统暂不可用，稍后重试：{exc}")
            outcomes.append(exc)
    return outcomes


def _note(session: Session, item: Any, action: str, reason: str) -> None:
    line = session.get(CreditLine, item.payload["line_id"])
    if line is not None:
        record_event(session, line, action, reason, new_limit=Decimal(item.payload["new_limit"]))
        session.commit()


def on_dead(items) -> None:
    """Dead-lettered adjustments: a history row; the pending mark stays for the retry."""
    from portal.core.extensions import db

    for item in items:
        line = db.session.get(CreditLine, item.payload["line_id"])
        if line is not None:
            record_event(
                db.session,
                line,
                "adjust_failed",
                f"核心系统额度调整失败，可重试：{item.last_error or ''}",
                new_limit=Decimal(item.payload["new_limit"]),
            )


def dead_item(session: Session, line_id: int) -> OutboxItem | None:
    """The line's dead-lettered adjustment, if any (shown on the line page with a retry)."""
    return session.scalar(
        select(OutboxItem).where(
            OutboxItem.kind == KIND, OutboxItem.ref_id == line_id, OutboxItem.state == "dead"
        )
    )


def retry(session: Session, line: CreditLine, actor_id: int | None) -> bool:
    """Staff retry of a dead-lettered adjustment (same key); False when there is none."""
    item = dead_item(session, line.id)
    if item is None or not outbox.retry_dead(session, [item.id]):
        session.rollback()
        return False
    record_event(
        session,
        line,
        "adjust_resend",
        "重新提交核心系统额度调整",
        actor_id,
        new_limit=line.pending_limit,
    )
    session.commit()
    outbox.kick()
    return True
