"""Approval jobs: batch account opening (批量开户)."""

from __future__ import annotations


def run_batch(batch_id: int, actor_id: int | None = None) -> dict:
    """Open every pending item of one batch in core banking (see portal.credit.account_opening)."""
    from portal.core.extensions import db
    from portal.credit import account_opening as batch_opening

    return batch_opening.run(db.session, batch_id, actor_id)
