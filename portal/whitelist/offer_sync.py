"""Whitelist delta sync to mobile banking (白名单同步手机银行) through the outbox.

Every change to an offer bumps its version; `synced_version` is the version last
handed to a sync batch. A sync run takes the offers with version > synced_version,
groups them into batches, and — in one transaction — records each batch, writes
its outbox item and advances synced_version. The outbox delivers with retries and
an idempotency key per batch; on success the batch is done and its pending offers
become active (the customer can now see them in mobile banking).
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.background import OutboxItem
from models.customers import Customer
from models.whitelist import Offer, OfferHistory, OfferSyncBatch, Product
from portal.background import outbox
from portal.core.extensions import db
from portal.integrations import mobile_banking

KIND = "mbank.offer_sync"


def key_for(batch_id: int) -> str:
    return f"offer-sync:{batch_id}"


def sync_delta(session: Session, limit: int = 200_000) -> dict[str, int]:
    """Hand every changed offer to a sync batch (outbox); returns batches and offers."""
    size = current_app.config["WHITELIST_SYNC_BATCH"]
    rows = session.execute(
        select(Offer.id, Offer.version)
        .where(Offer.version > Offer.synced_version)
        .order_by(Offer.id)
        .limit(limit)
    ).all()
    now = dt.datetime.now()
    batches = 0
    for i in range(0, len(rows), size):
        part = rows[i : i + size]
        batch = OfferSyncBatch(offer_count=len(part), status="pending", created_at=now)
        session.add(batch)
        session.flush()
        outbox.add(
            session,
            KIND,
            key_for(batch.id),
            ref_id=batch.id,
            payload={"batch_id": batch.id, "offer_ids": [r.id for r in part]},
        )
        session.connection().execute(
            update(Offer.__table__)
            .where(Offer.__table__.c.id == bindparam("oid"))
            .values(synced_version=bindparam("ver")),
            [{"oid": r.id, "ver": r.version} for r in part],
        )
        batches += 1
    _refresh_failed(session)
    session.commit()
    if batches:
        outbox.kick()
    return {"batches": batches, "offers": len(rows)}


def _refresh_failed(session: Session) -> None:
    """A batch whose outbox item went to the dead letter shows as failed (and back on retry)."""
    pending = session.scalars(
        select(OfferSyncBatch).where(OfferSyncBatch.status.in_(("pending", "dead")))
    ).all()
    if not pending:
        return
    items = {
        i.idempotency_key: i
        for i in session.scalars(
            select(OutboxItem).where(
                OutboxItem.idempotency_key.in_([key_for(b.id) for b in pending])
            )
        )
    }
    for b in pending:
        item = items.get(key_for(b.id))
        if item is not None and item.state == "dead":
            b.status, b.error = "dead", (item.last_error or "")[:500]
        elif item is not None and b.status == "dead":
            b.status, b.error = "pending", None


def sync_for_slot(slot: dt.datetime | None = None) -> dict[str, int]:
    return sync_delta(db.session)


def _payload(session: Session, offer_ids: list[int]) -> list[dict]:
    rows = session.execute(
        select(Offer, Customer, Product.code, OrgUnit.code)
        .join(Customer, Customer.id == Offer.customer_id)
        .join(Product, Product.id == Offer.product_id)
        .join(OrgUnit, OrgUnit.id == Offer.branch_id)
        .where(Offer.id.in_(offer_ids))
    ).all()
    return [
        {
            "offer_id": o.id,
            "version": o.version,
            "id_number": c.id_number,
            "name": c.name,
            "mobile": c.mobile,
            "product": pcode,
            "branch": bcode,
            "limit": str(o.limit_amount),
            "rate": str(o.rate),
            "expiry_date": o.expiry_date.isoformat(),
            "status": "active" if o.status == "pending" else o.status,
        }
        for o, c, pcode, bcode in rows
    ]


@outbox.handler(KIND, queue="integrations", batch_size=5)
def push(items: list) -> list:
    """Outbox handler: push each batch; on success activate its pending offers."""
    outcomes = []
    for item in items:
        ids = item.payload["offer_ids"]
        try:
            result = mobile_banking.push_offers(item.idempotency_key, _payload(db.session, ids))
        except outbox.IntegrationError as exc:
            outcomes.append(exc)
            continue
        now = dt.datetime.now()
        session = db.session
        pending = session.scalars(
            select(Offer).where(Offer.id.in_(ids), Offer.status == "pending")
        ).all()
        for offer in pending:
            session.add(
                OfferHistory(
                    offer_id=offer.id,
                    event="activate",
                    version=offer.version,
                    old_status="pending",
                    new_status="active",
                    reason="手机银行已接收",
                    at=now,
                )
            )
            offer.status = "active"
        batch = session.get(OfferSyncBatch, item.payload["batch_id"])
        if batch is not None:
            batch.status, batch.done_at, batch.error = "done", now, None
            batch.remote_batch = (result or {}).get("batch")
        outcomes.append({"batch": (result or {}).get("batch"), "offers": len(ids)})
    return outcomes
