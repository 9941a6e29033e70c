"""Core banking adapter (核心系统, via the front-end processor 前置).

Money movements are never blindly repeated: before any retry the adapter asks the
core for the outcome of the idempotency key and only re-sends when nothing happened.
"""

from __future__ import annotations

from portal.integrations.base import call

CONFIG_KEY = "CORE_BANKING_URL"
OPERATIONS = {
    "open_credit_line": "credit-lines",  # 出账 / open the credit line
    "link_card": "card-links",  # 卡贷关联
    "sign_contract": "contracts",  # 签约
    "terminate_contract": "contract-terminations",  # 解约
    "adjust_limit": "credit-limits",  # 额度调整
}


def status(key: str) -> dict | None:
    """The core's record of the operation with this idempotency key, or None."""
    return call(CONFIG_KEY, "GET", f"/core/operations/{key}")


def perform(operation: str, key: str, payload: dict, *, is_retry: bool = False) -> dict:
    """Run one operation; on a retry, first return the earlier outcome if there is one."""
    if is_retry:
        earlier = status(key)
        if earlier and earlier.get("status") == "success":
            return {**earlier, "recovered": True}
    return call(
        CONFIG_KEY, "POST", f"/core/{OPERATIONS[operation]}", json=payload, idempotency_key=key
    )


def usage(after: int, limit: int = 500) -> dict:
    """Credit-line usage changed since cursor `after`: {"items": [{line_ref, used, seq}], "cursor"}."""
    return call(CONFIG_KEY, "GET", "/core/usage", params={"after": after, "limit": limit}) or {}
