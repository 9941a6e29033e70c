"""SMS gateway adapter (信息银行/短信平台): batch send and delivery receipts."""

from __future__ import annotations

from portal.integrations.base import call

CONFIG_KEY = "SMS_GATEWAY_URL"


def send_batch(messages: list[dict]) -> dict[str, dict]:
    """Send [{key, mobile, content}]; returns {key: {msg_id, status, duplicate}}."""
    body = call(CONFIG_KEY, "POST", "/sms/send", json={"messages": messages})
    return {r["key"]: r for r in body.get("results", []) if r.get("key")}


def receipts(after: int, limit: int = 1000) -> list[dict]:
    """Delivery receipts with sequence numbers greater than `after`."""
    body = call(CONFIG_KEY, "GET", "/sms/receipts", params={"after": after, "limit": limit})
    return (body or {}).get("receipts", [])
