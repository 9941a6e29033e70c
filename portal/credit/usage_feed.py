"""Used-amount feed from core banking (额度使用情况同步): drawdowns and repayments happen in
core banking; this schedule pulls each line's used amount, by core reference, changed
since the stored cursor, and updates ``used_amount`` (and so the available amount).

Idempotent: a row sets the used amount (it does not add to it), and each page commits
its updates together with the cursor, so a run repeated or cut short re-reads at most
one page and changes nothing twice. Bad rows — an unknown reference, an unreadable or
negative amount, more used than the line's limit (or its pending raised limit) — are
refused one by one: logged by feed sequence and reason only (no customer data),
counted in the run's summary, and nothing else changes for them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.background import IntegrationCursor
from models.credit import CreditLine
from portal.integrations import core_banking

log = logging.getLogger(__name__)

CURSOR = "core.usage"
PAGE_SIZE = 500
MAX_PAGES = 200  # per run; the next run continues from the cursor
LOGGED_PER_RUN = 20


def _amount(value) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return None
    return amount.quantize(Decimal("0.01")) if amount.is_finite() else None


def _check(line, used: Decimal | None) -> str | None:
    """Why a feed row is refused, or None when it is good."""
    if used is None:
        return "invalid"
    if used < 0:
        return "negative"
    if line is None:
        return "unknown"
    ceiling = max(line.limit_amount, line.pending_limit or Decimal(0))
    if used > ceiling:
        return "over_limit"
    return None


def _apply(session: Session, items: list[dict], summary: Counter) -> None:
    refs = {str(i.get("line_ref") or "") for i in items} - {""}
    lines = {
        r.core_ref: r
        for r in session.execute(
            select(
                CreditLine.id,
                CreditLine.core_ref,
                CreditLine.limit_amount,
                CreditLine.pending_limit,
                CreditLine.used_amount,
            ).where(CreditLine.core_ref.in_(refs))
        )
    }
    now = dt.datetime.now()
    current: dict[int, Decimal] = {}
    for row in items:
        summary["rows"] += 1
        line = lines.get(str(row.get("line_ref") or ""))
        used = _amount(row.get("used"))
        refused = _check(line, used)
        if refused:
            summary[refused] += 1
            if summary["refused_logged"] < LOGGED_PER_RUN:
                summary["refused_logged"] += 1
                log.warning("core usage feed: row seq=%s refused (%s)", row.get("seq"), refused)
            continue
        before = current.get(line.id, line.used_amount)
        if before == used:
            summary["unchanged"] += 1
            continue
        session.execute(
            update(CreditLine)
            .where(CreditLine.id == line.id)
            .values(used_amount=used, usage_at=now)
            .execution_options(synchronize_session=False)
        )
        current[line.id] = used
        summary["updated"] += 1


def pull(session: Session, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES) -> dict:
    """Pull usage changed since the cursor; returns counts (updated, unchanged, refused …)."""
    cursor = session.get(IntegrationCursor, CURSOR)
    after = int(cursor.value) if cursor is not None and cursor.value else 0
    summary: Counter = Counter()
    for _ in range(max_pages):
        page = core_banking.usage(after, page_size)
        items = page.get("items") or []
        if not items:
            break
        _apply(session, items, summary)
        after = int(page.get("cursor") or items[-1]["seq"])
        session.merge(
            IntegrationCursor(name=CURSOR, value=str(after), updated_at=dt.datetime.now())
        )
        session.commit()
        if len(items) < page_size:
            break
    summary.pop("refused_logged", None)
    refused = sum(summary[k] for k in ("unknown", "negative", "over_limit", "invalid"))
    if refused:
        log.warning(
            "core usage feed: %s of %s rows refused %s", refused, summary["rows"], dict(summary)
        )
    return {"cursor": after, "refused": refused, **summary}


def pull_for_slot(slot: dt.datetime) -> dict:
    """Schedule entry (ledger-claimed): one pull per slot."""
    from portal.core.extensions import db

    return pull(db.session)
