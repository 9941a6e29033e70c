"""SMS service (短信): queue messages through the outbox, quiet hours, opt-out, receipts.

Marketing SMS (营销类) is never sent in quiet hours (default 21:00–08:00, business
time): it is deferred to the end of the quiet period, both when queued and when a
retry would fall inside it. Customers who opted out get no marketing SMS at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.background import IntegrationCursor
from models.customers import Customer
from models.sms.messages import SmsMessage, SmsOptOut, SmsTemplate
from portal.background import outbox
from portal.core import multirow
from portal.core import single_statement as statement_batch
from portal.core.extensions import db
from portal.sms.templates import render

KIND = "sms.send"


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["PORTAL_TIMEZONE"])


def _hm(value: str) -> dt.time:
    h, m = value.split(":")
    return dt.time(int(h), int(m))


def quiet_until(at_utc: dt.datetime | None = None) -> dt.datetime | None:
    """If `at_utc` (naive UTC) is in quiet hours, the naive-UTC moment they end; else None."""
    at_utc = at_utc or outbox.utcnow()
    local = at_utc.replace(tzinfo=dt.UTC).astimezone(_tz())
    start, end = (
        _hm(current_app.config["SMS_QUIET_START"]),
        _hm(current_app.config["SMS_QUIET_END"]),
    )
    t = local.time()
    quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not quiet or start == end:
        return None
    end_local = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_local <= local:
        end_local += dt.timedelta(days=1)
    return end_local.astimezone(dt.UTC).replace(tzinfo=None)


def get_template(session: Session, code: str) -> SmsTemplate:
    tpl = session.scalars(
        select(SmsTemplate).where(SmsTemplate.code == code, SmsTemplate.active.is_(True))
    ).first()
    if tpl is None:
        raise LookupError(f"no active SMS template {code}")
    return tpl


def opted_out(session: Session, customer_ids: Iterable[int]) -> set[int]:
    ids = list(customer_ids)
    if not ids:
        return set()
    return set(session.scalars(select(SmsOptOut.customer_id).where(SmsOptOut.customer_id.in_(ids))))


def set_opt_out(
    session: Session, customer_id: int, out: bool = True, source: str = "staff"
) -> None:
    exists = opted_out(session, [customer_id])
    if out and not exists:
        session.add(SmsOptOut(customer_id=customer_id, source=source))
    elif not out and exists:
        session.query(SmsOptOut).filter_by(customer_id=customer_id).delete()


def queue_to_customers(
    session: Session,
    template_code: str,
    customer_ids: list[int],
    values: dict | None = None,
    key_prefix: str | None = None,
) -> dict[str, int]:
    """Queue one SMS per customer in the caller's transaction; returns counts.

    `key_prefix` makes the send idempotent per business event (e.g. "offer:2026-11-05").
    """
    tpl = get_template(session, template_code)
    marketing = tpl.category == "marketing"
    skip = opted_out(session, customer_ids) if marketing else set()
    rows = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.mobile,
            Customer.branch_id,
            Customer.institution_id,
            OrgUnit.name,
            OrgUnit.phone,
        )
        .join(OrgUnit, OrgUnit.id == Customer.branch_id)
        .where(Customer.id.in_(customer_ids))
    ).all()
    recipients, suppressed = [], 0
    for cid, name, mobile, branch_id, inst_id, branch_name, phone in rows:
        if not mobile:
            continue
        vals = {
            "customer_name": name,
            "branch_name": branch_name,
            "branch_phone": phone or "",
            **(values or {}),
        }
        recipient = {
            "customer_id": cid,
            "mobile": mobile,
            "values": vals,
            "branch_id": branch_id,
            "institution_id": inst_id,
        }
        if cid in skip:
            recipient["suppressed"] = True
            suppressed += 1
        recipients.append(recipient)
    queued = queue_bulk(session, tpl, recipients, key_prefix)
    return {"queued": queued, "suppressed": suppressed}


# Core insert (cheaper than the ORM bulk path), built once: the intake's hot path binds values
_MESSAGE_INSERT = insert(SmsMessage.__table__).returning(
    SmsMessage.__table__.c.id, sort_by_parameter_order=True
)


def queue_bulk(
    session: Session, tpl: SmsTemplate, recipients: list[dict], key_prefix: str | None = None
) -> int:
    """Insert messages and their outbox items set-wise (campaign sized); returns queued count."""
    signature = current_app.config["SMS_SIGNATURE"]
    not_before = quiet_until() if tpl.category == "marketing" else None
    now = outbox.utcnow()
    rows = [
        {
            "customer_id": r.get("customer_id"),
            "mobile": r["mobile"],
            "template_code": tpl.code,
            "category": tpl.category,
            "content": signature + render(tpl.body, r.get("values") or {}),
            "state": "suppressed"
            if r.get("suppressed")
            else ("deferred" if not_before else "queued"),
            "institution_id": r.get("institution_id") or tpl.institution_id,
            "branch_id": r.get("branch_id"),
            "created_at": now,
            "not_before": not_before,
        }
        for r in recipients
    ]
    if not rows:
        return 0
    batch = statement_batch.current(session)
    if batch is not None and len(batch.ids.get("sms_message", ())) >= len(rows):
        # ids drawn beforehand: the rows go with the unit's other writes (the intake)
        ids = [batch.take_id("sms_message") for _ in rows]
        multirow.insert_rows(
            session, SmsMessage.__table__, [{"id": i, **r} for i, r in zip(ids, rows, strict=True)]
        )
    else:
        ids = session.scalars(_MESSAGE_INSERT, rows).all()
    items = []
    for msg_id, row, r in zip(ids, rows, recipients, strict=True):
        if row["state"] == "suppressed":
            continue
        key = f"sms:{key_prefix}:{r['customer_id']}" if key_prefix else f"sms:{msg_id}"
        items.append(
            {
                "kind": KIND,
                "idempotency_key": key,
                "ref_id": msg_id,
                "institution_id": row["institution_id"],
                "next_attempt_at": not_before,
            }
        )
    return outbox.add_many(session, items)


def send_items(items: list) -> list:
    """Outbox handler for sms.send: one gateway call per batch, rate limited, quiet hours."""
    from portal.integrations import sms_gateway
    from portal.sms.rate_limit import acquire

    msgs = {
        m.id: m
        for m in db.session.execute(
            select(SmsMessage.id, SmsMessage.mobile, SmsMessage.content, SmsMessage.category).where(
                SmsMessage.id.in_([i.ref_id for i in items])
            )
        )
    }
    later = quiet_until()
    outcomes: dict[int, object] = {}
    batch = []
    for item in items:
        m = msgs.get(item.ref_id)
        if m is None:
            outcomes[item.id] = outbox.PermanentError("message row missing")
        elif later and m.category == "marketing":
            outcomes[item.id] = outbox.Defer(later)
        else:
            batch.append((item, m))
    rate = current_app.config["SMS_RATE_PER_SECOND"]
    sent = []
    for i in range(0, len(batch), rate):
        part = batch[i : i + rate]
        acquire("sms", len(part), rate)
        try:
            results = sms_gateway.send_batch(
                [
                    {"key": it.idempotency_key, "mobile": m.mobile, "content": m.content}
                    for it, m in part
                ]
            )
        except outbox.IntegrationError as exc:
            outcomes.update({it.id: exc for it, _ in part})
            continue
        for it, m in part:
            r = results.get(it.idempotency_key)
            if r and r.get("msg_id"):
                outcomes[it.id] = {"msg_id": r["msg_id"]}
                sent.append({"mid": m.id, "gw": r["msg_id"]})
            else:
                outcomes[it.id] = outbox.PermanentError("网关拒收")
    now = outbox.utcnow()
    if sent:
        db.session.connection().execute(
            update(SmsMessage.__table__)
            .where(SmsMessage.__table__.c.id == bindparam("mid"))
            .values(state="sent", gateway_msg_id=bindparam("gw"), sent_at=now),
            sent,
        )
    return [outcomes[i.id] for i in items]


def mark_dead(items: list) -> None:
    """Dead-lettered sends: the message failed (a later retry from the monitor can still send it)."""
    db.session.execute(
        update(SmsMessage)
        .where(SmsMessage.id.in_([i.ref_id for i in items]), SmsMessage.state == "queued")
        .values(state="failed")
    )


def poll_receipts(limit: int = 5000) -> int:
    """Pull delivery receipts since the stored cursor and mark messages delivered/failed."""
    from portal.integrations import sms_gateway

    session = db.session
    cursor = session.get(IntegrationCursor, "sms.receipts") or IntegrationCursor(
        name="sms.receipts", value="0"
    )
    receipts = sms_gateway.receipts(int(cursor.value or 0), limit)
    if not receipts:
        return 0
    now = outbox.utcnow()
    session.connection().execute(
        update(SmsMessage.__table__)
        .where(SmsMessage.__table__.c.gateway_msg_id == bindparam("gw"))
        .values(state=bindparam("st"), delivered_at=now),
        [
            {"gw": r["msg_id"], "st": "delivered" if r["status"] == "delivered" else "failed"}
            for r in receipts
        ],
    )
    cursor.value, cursor.updated_at = str(receipts[-1]["seq"]), now
    session.merge(cursor)
    session.commit()
    return len(receipts)
