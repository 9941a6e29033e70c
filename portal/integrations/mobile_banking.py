"""Mobile banking adapter (手机银行): whitelist offer deltas and application status pushes."""

from __future__ import annotations

from portal.integrations.base import call

CONFIG_KEY = "MOBILE_BANKING_URL"


def push_offers(key: str, offers: list[dict]) -> dict:
    """Push a delta of pre-approved offers (since the last sync cursor)."""
    return call(CONFIG_KEY, "POST", "/mbank/offers", json={"offers": offers}, idempotency_key=key)


def push_application_status(key: str, payload: dict) -> dict:
    return call(CONFIG_KEY, "POST", "/mbank/application-status", json=payload, idempotency_key=key)
