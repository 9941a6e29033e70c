"""SMS jobs."""

from __future__ import annotations

from portal import sms


def poll_receipts() -> int:
    """Fetch delivery receipts from the gateway."""
    return sms.poll_receipts()
