"""Two-phase campaigns (精准营销): snapshot the audience, later send one SMS per customer.

The seed's default: on the 4th at end of day snapshot customers with an active,
unexpired, not-applied offer; on the 5th at 12:00 send them the marketing SMS.
`tick(slot)` runs from a ledger-claimed schedule and does whichever phase is due.
Exactly one SMS per (run, customer) however often it runs, because:
the run row is unique per (campaign, month); members are unique per (run, customer);
only the caller that flips the run from snapshotted to sending queues messages; and
every message's outbox idempotency key is ``sms:campaign:<run>:<customer>``.
Opt-out and quiet hours are the SMS service's (portal/sms/messages.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.access.org import OrgUnit
from models.customers import Customer
from models.sms.campaigns import Campaign, CampaignMember, CampaignRun
from models.whitelist import Offer, Product
from portal.core.extensions import db
from portal.sms import messages as sms

CHUNK = 5000


def _at(period_start: dt.date, day: int, hhmm: str) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime(period_start.year, period_start.month, day, h, m)


def tick(slot: dt.datetime | None = None) -> dict[str, int]:
    """Do every campaign phase due at `slot` (business-local time)."""
    from portal.background.schedules import local_now

    now = slot or local_now()
    session = db.session
    out = {"snapshots": 0, "sends": 0}
    for c in session.scalars(select(Campaign).where(Campaign.active.is_(True))).all():
        period = now.strftime("%Y-%m")
        first = now.date().replace(day=1)
        run = session.scalars(
            select(CampaignRun).where(CampaignRun.campaign_id == c.id, CampaignRun.period == period)
        ).first()
        if run is None and now >= _at(first, c.snapshot_day, c.snapshot_time):
            if now < _at(first, c.send_day, c.send_time) + dt.timedelta(days=1):
                run = snapshot(session, c, period, now)
                out["snapshots"] += run is not None
        if run is not None and run.status == "snapshotted":
            if now >= _at(first, c.send_day, c.send_time):
                out["sends"] += send(session, run.id) is not None
    return out


def snapshot(session: Session, c: Campaign, period: str, now: dt.datetime) -> CampaignRun | None:
    """Phase 1: lock the audience; None when another process already did."""
    run = CampaignRun(
        campaign_id=c.id, period=period, institution_id=c.institution_id, snapshot_at=now
    )
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    q = (
        select(func.min(Offer.id).label("offer_id"), Offer.customer_id.label("customer_id"))
        .where(
            Offer.institution_id == c.institution_id,
            Offer.status == "active",
            Offer.applied_at.is_(None),
            Offer.expiry_date >= now.date(),
        )
        .group_by(Offer.customer_id)
    )
    if c.product_id:
        q = q.where(Offer.product_id == c.product_id)
    sub = q.subquery()
    session.execute(
        insert(CampaignMember).from_select(
            ["run_id", "customer_id", "offer_id"],
            select(literal(run.id), sub.c.customer_id, sub.c.offer_id),
        )
    )
    run.audience = session.scalar(
        select(func.count()).select_from(CampaignMember).where(CampaignMember.run_id == run.id)
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return run


def send(session: Session, run_id: int) -> CampaignRun | None:
    """Phase 2: queue one SMS per member, once (the status flip is the claim)."""
    claimed = session.execute(
        update(CampaignRun)
        .where(CampaignRun.id == run_id, CampaignRun.status == "snapshotted")
        .values(status="sending")
    ).rowcount
    if not claimed:
        session.rollback()
        return None
    run = session.get(CampaignRun, run_id)
    tpl = sms.get_template(session, run.campaign.template_code)
    rows = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.mobile,
            Customer.branch_id,
            Customer.institution_id,
            OrgUnit.name,
            OrgUnit.phone,
            Product.name,
            Offer.limit_amount,
            Offer.expiry_date,
        )
        .select_from(CampaignMember)
        .join(Customer, Customer.id == CampaignMember.customer_id)
        .join(Offer, Offer.id == CampaignMember.offer_id)
        .join(Product, Product.id == Offer.product_id)
        .join(OrgUnit, OrgUnit.id == Customer.branch_id)
        .where(CampaignMember.run_id == run_id)
        .order_by(CampaignMember.id)
    ).all()
    skip = sms.opted_out(session, [r[0] for r in rows])
    queued = 0
    for i in range(0, len(rows), CHUNK):
        recipients = [
            {
                "customer_id": cid,
                "mobile": mobile,
                "branch_id": bid,
                "institution_id": inst,
                "suppressed": cid in skip,
                "values": {
                    "customer_name": name,
                    "branch_name": bname,
                    "branch_phone": phone or "",
                    "product": pname,
                    "limit": f"{limit:,.0f}",
                    "expiry_date": f"{expiry:%Y年%m月%d日}",
                },
            }
            for cid, name, mobile, bid, inst, bname, phone, pname, limit, expiry in rows[
                i : i + CHUNK
            ]
            if mobile
        ]
        queued += sms.queue_bulk(session, tpl, recipients, key_prefix=f"campaign:{run_id}")
    run.status, run.sent_at = "sent", dt.datetime.now()
    run.queued, run.suppressed = queued, len(skip)
    session.commit()
    from portal.background import outbox

    outbox.kick()
    return run


def report(session: Session, run: CampaignRun) -> dict[str, int]:
    """Audience, queued, suppressed, sent, delivered, failed, applied within N days."""
    key = "'sms:campaign:' || :run || ':' || m.customer_id"
    if session.get_bind().dialect.name == "postgresql":
        key = "'sms:campaign:' || CAST(:run AS TEXT) || ':' || CAST(m.customer_id AS TEXT)"
    counts = dict(
        session.execute(
            text(
                "SELECT s.state, count(*) FROM campaign_member m JOIN outbox_item i"
                f" ON i.idempotency_key = {key} JOIN sms_message s ON s.id = i.ref_id"
                " WHERE m.run_id = :run GROUP BY s.state"
            ),
            {"run": run.id},
        ).all()
    )
    applied = 0
    if run.sent_at:
        until = run.sent_at + dt.timedelta(days=run.campaign.applied_window_days)
        applied = session.scalar(
            select(func.count())
            .select_from(CampaignMember)
            .join(Offer, Offer.id == CampaignMember.offer_id)
            .where(
                CampaignMember.run_id == run.id,
                Offer.applied_at >= run.sent_at,
                Offer.applied_at <= until,
            )
        )
    return {
        "audience": run.audience,
        "queued": run.queued,
        "suppressed": run.suppressed,
        "sent": sum(counts.get(s, 0) for s in ("sent", "delivered", "failed")),
        "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0),
        "applied": applied,
    }
