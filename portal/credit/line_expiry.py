"""End-of-day credit-line expiry (额度到期失效, part of 日终跑批).

A line is usable through its expiry date; the end-of-day batch of that business date
(or the first one after it, when runs were missed) moves every line still 正常 or 已冻结
to 已到期, with a history row each, in one transaction. Idempotent per business date:
the schedule's ledger runs each date once, and a repeated run finds nothing left to
expire (expired lines are never touched again), so no line gets a second history row.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from models.credit import CreditLine, CreditLineEvent

log = logging.getLogger(__name__)

EXPIRABLE = ("active", "frozen")
BATCH = 1000


def expire_lines(session: Session, business_date: dt.date) -> dict[str, int]:
    """Expire the lines whose expiry date is on or before `business_date`; returns counts."""
    now = dt.datetime.now()
    reason = f"日终跑批（{business_date.isoformat()}）：额度已过到期日"
    expired = 0
    for status in EXPIRABLE:
        # one guarded UPDATE … RETURNING per status: the history row names the real from-status
        ids = session.scalars(
            update(CreditLine)
            .where(CreditLine.status == status, CreditLine.expiry_date <= business_date)
            .values(status="expired", version=CreditLine.version + 1)
            .returning(CreditLine.id)
            .execution_options(synchronize_session=False)
        ).all()
        for i in range(0, len(ids), BATCH):
            session.execute(
                insert(CreditLineEvent),
                [
                    {
                        "credit_line_id": line_id,
                        "action": "expire",
                        "from_status": status,
                        "to_status": "expired",
                        "reason": reason,
                        "at": now,
                    }
                    for line_id in ids[i : i + BATCH]
                ],
            )
        expired += len(ids)
    session.commit()
    if expired:
        log.info("credit-line EOD %s: %s line(s) expired", business_date, expired)
    return {"business_date": business_date.isoformat(), "expired": expired}


def eod_for_slot(slot: dt.datetime) -> dict[str, int]:
    """Schedule entry (ledger-claimed, once per date): the slot's date is the business date."""
    from portal.core.extensions import db

    return expire_lines(db.session, slot.date())
