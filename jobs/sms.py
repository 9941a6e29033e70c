"""SMS jobs."""

from __future__ import annotations

from portal.sms import messages as sms


def poll_receipts() -> int:
    """Fetch delivery receipts from the gateway."""
    return sms.poll_receipts()
