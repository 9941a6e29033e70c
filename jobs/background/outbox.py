"""Outbox jobs: dispatch, process a batch of item ids, reconcile."""

from __future__ import annotations

from rq import get_current_job

from portal.background import outbox


def dispatch() -> int:
    """Enqueue every due pending outbox item (batched per kind)."""
    return outbox.dispatch()


def process(ids: list[int]) -> dict[str, int]:
    """Perform the outbox items this job was enqueued for."""
    return outbox.process(get_current_job().id, ids)


def reconcile() -> dict[str, int]:
    """Re-queue items whose RQ job was lost or whose worker died."""
    return outbox.reconcile()
