"""Outbox kinds of the approval work: submit to approval, disburse, terminate a contract,
send an approved limit change to core banking."""

from __future__ import annotations

from portal.background.outbox import handler
from portal.credit import contracts, disbursement, limit_adjust

SUBMIT_KIND = "approval.submit"


def submit_items(items) -> list:
    """Open the approval case of applications that passed review (local, no external call)."""
    from portal.approvals.decisions import submit
    from portal.core.extensions import db

    outcomes = []
    for item in items:
        case = submit(db.session, item.ref_id)
        db.session.commit()
        outcomes.append({"case_id": case.id if case else None})
    return outcomes


handler(SUBMIT_KIND, queue="default", batch_size=50)(submit_items)
handler(disbursement.KIND, batch_size=10)(disbursement.handle)
handler(contracts.KIND, batch_size=10)(contracts.handle)
handler(limit_adjust.KIND, batch_size=10, on_dead=limit_adjust.on_dead)(limit_adjust.handle)
