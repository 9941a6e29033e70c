"""Masking of personal data for display, export and logs (脱敏)."""

from __future__ import annotations

# Kinds of masked column. A model names its masked columns once, e.g.
# ``__masked__ = {"id_number": RESIDENT_ID}``; every list and API over it then searches them
# by the complete value only (portal/access/masked_search.py, views/list_guard.py).
RESIDENT_ID = "resident_id"
MOBILE = "mobile"


def mask_id_number(value: str | None) -> str:
    """4401**********123X: keep the first 4 and last 4 characters."""
    if not value:
        return ""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_mobile(value: str | None) -> str:
    """138****5678: keep the first 3 and last 4 digits."""
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """张*明 / 张*: keep the first character (and the last for 3+ characters)."""
    if not value:
        return ""
    if len(value) == 1:
        return value
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]
