"""What a lifecycle transition announces, in its own transaction, through the outbox.

* every change of the customer-visible status → a status push to mobile banking;
* assign / reassign → a service SMS to the account manager (新申请分派通知);
* reject → a service SMS to the customer with the branch's phone number;
* pass → the application is submitted to approval (its case opened by a job).

No personal data goes into outbox payloads: pushes carry the application number
and status; SMS bodies live in sms_message (as the SMS service stores them).
"""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.access.staff import StaffUser
from models.whitelist import Product
from portal.background import outbox

# internal state -> (status code the channel sees, Chinese label for the 查询申请进度 screen)
CHANNEL_STATUS = {
    "submitted": ("processing", "已受理"),
    "assigned": ("processing", "已受理，客户经理处理中"),
    "under_review": ("reviewing", "审核中"),
    "need_info": ("need_info", "需补充资料，请留意客户经理来电"),
    "review_passed": ("approving", "审批中"),
    "in_approval": ("approving", "审批中"),
    "approved": ("approved", "已批准，额度开通中"),
    "disbursing": ("approved", "已批准，额度开通中"),
    "disbursement_failed": ("approved", "已批准，额度开通中"),
    "active": ("active", "额度已开通"),
    "rejected": ("rejected", "未通过"),
    "withdrawn": ("withdrawn", "已撤回"),
    "expired": ("expired", "已失效"),
}
PUSH_KIND = "mbank.application_status"
_cache: dict[tuple, tuple[float, Any]] = {}
_TTL = 60.0


def _cached(key: tuple, load):
    hit = _cache.get(key)
    now = time.monotonic()
    if hit and hit[0] > now:
        return hit[1]
    value = load()
    _cache[key] = (now + _TTL, value)
    return value


def template(session: Session, code: str) -> SimpleNamespace:
    """The active SMS template as plain values (cached a minute per process)."""
    from portal.sms.messages import get_template

    def load():
        t = get_template(session, code)
        return SimpleNamespace(
            code=t.code, category=t.category, body=t.body, institution_id=t.institution_id
        )

    return _cached(("tpl", code), load)


def product_name(session: Session, product_id: int) -> str:
    return _cached(
        ("product", product_id),
        lambda: session.scalar(select(Product.name).where(Product.id == product_id)) or "",
    )


def channel_status(state: str) -> tuple[str, str]:
    return CHANNEL_STATUS.get(state, ("processing", "处理中"))


def push_status(session: Session, row: Any, to_state: str, version: int, at: dt.datetime):
    code, label = channel_status(to_state)
    outbox.add(
        session,
        PUSH_KIND,
        f"mbank:app:{row.id}:v{version}",
        ref_id=row.id,
        institution_id=row.institution_id,
        payload={
            "app_no": row.app_no,
            "channel_request_id": row.channel_request_id,
            "status": code,
            "status_label": label,
            "version": version,
            "at": at.isoformat(timespec="seconds"),
        },
    )


def notify_manager(session: Session, row: Any, manager_id: int, version: int, phone=None):
    from portal.sms.messages import queue_bulk

    if phone is None:
        phone = session.scalar(select(StaffUser.phone).where(StaffUser.id == manager_id))
    if not phone:
        return 0
    recipient = {
        "customer_id": None,
        "mobile": phone,
        "values": {"product": product_name(session, row.product_id)},
        "branch_id": row.branch_id,
        "institution_id": row.institution_id,
    }
    tpl = template(session, "manager_assigned")
    return queue_bulk(session, tpl, [recipient], key_prefix=f"assign:{row.id}:v{version}")


def notify_rejected(session: Session, row: Any) -> int:
    from portal.sms.messages import queue_to_customers

    values = {"product": product_name(session, row.product_id)}
    out = queue_to_customers(
        session, "application_rejected", [row.customer_id], values, key_prefix=f"reject:{row.id}"
    )
    return out["queued"]


def apply(session: Session, row: Any, action: str, result, at: dt.datetime) -> None:
    """Write the outbox rows of one transition (called inside it)."""
    ctx = result.ctx
    # a change of the status mobile banking shows is pushed, unless the channel's own request
    # is answered with it ("answered": the submission's auto-assignment, in its 201)
    changed = channel_status(result.from_state) != channel_status(result.to_state)
    if changed and not ctx.get("answered"):
        push_status(session, row, result.to_state, result.version, at)
        ctx["kick"] = True
    if action in ("assign", "reassign") and ctx.get("manager_id"):
        phone = ctx.get("manager_phone")
        if notify_manager(session, row, ctx["manager_id"], result.version, phone):
            ctx["kick"] = True
    if result.to_state == "rejected" and notify_rejected(session, row):
        ctx["kick"] = True
    if action == "pass":  # into the approval queue (portal/approvals/handlers.py)
        outbox.add(
            session,
            "approval.submit",
            f"approval:submit:{row.id}",
            ref_id=row.id,
            institution_id=row.institution_id,
        )
        ctx["kick"] = True


def after_commit(result) -> None:
    if result.ctx.get("kick"):
        outbox.kick()
