"""Mobile banking adapter (手机银行): whitelist offer deltas and application status pushes."""

from __future__ import annotations

from portal.integrations.base import PermanentError, call

CONFIG_KEY = "MOBILE_BANKING_URL"


def push_offers(key: str, offers: list[dict]) -> dict:
    """Push a delta of pre-approved offers (since the last sync cursor)."""
    return call(CONFIG_KEY, "POST", "/mbank/offers", json={"offers": offers}, idempotency_key=key)


def push_application_statuses(updates: list[tuple[str, dict]]) -> list[dict]:
    """Several status changes in one call, each applied once by its own idempotency key;
    returns one result per update, in order. At hundreds of submissions a second, one
    HTTP call per status change cost more than everything else the worker does."""
    body = {"statuses": [{"key": key, "status": payload} for key, payload in updates]}
    results = call(CONFIG_KEY, "POST", "/mbank/application-statuses", json=body)["results"]
    if len(results) != len(updates):
        raise PermanentError(f"mobile banking answered {len(results)} of {len(updates)} statuses")
    return results
