"""Factories for application tests: products, fresh offers, applications in any state,
channel keys and signed channel requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import secrets
import time
from decimal import Decimal

from sqlalchemy import insert, select

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.applications import Application, ApplicationEvent
from models.customers import Customer
from models.whitelist import Offer, Product
from portal.channel import keys as channel_keys
from portal.core.extensions import db

_seq = itertools.count(1)
NAME_CHARS = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥春夏秋冬梅兰竹菊松柏"


def user_id(username: str) -> int:
    return db.session.scalar(select(StaffUser.id).where(StaffUser.username == username))


def org_id(code: str) -> int:
    return db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))


def product_for(institution_id: int) -> Product:
    from portal.demo.whitelist import seed_products

    stmt = select(Product).where(Product.institution_id == institution_id, Product.code == "XFY")
    product = db.session.scalar(stmt)
    if product is None:
        seed_products()
        product = db.session.scalar(stmt)
    return product


def fresh_customer(branch_code: str = "I01B01", manager: str | None = "manager1") -> Customer:
    """A customer of the branch with no offer yet (ID number and mobile valid)."""
    import random

    from portal.demo.seed import make_id_number, make_mobile

    rng = random.Random(secrets.randbits(32))
    branch = db.session.scalar(select(OrgUnit).where(OrgUnit.code == branch_code))
    while True:
        number, birth = make_id_number(rng, "440103")
        if not db.session.scalar(select(Customer.id).where(Customer.id_number == number)):
            break
    owner = None
    if manager:  # a customer's own manager sits in the customer's branch
        u = db.session.scalar(select(StaffUser).where(StaffUser.username == manager))
        owner = u.id if u.org_unit_id == branch.id else None
    c = Customer(
        id_number=number,
        name="测" + "".join(rng.choice(NAME_CHARS) for _ in range(2)),
        mobile=make_mobile(rng),
        birth_date=birth,
        branch_id=branch.id,
        institution_id=branch.institution_id,
        manager_id=owner,
    )
    db.session.add(c)
    db.session.flush()
    return c


def fresh_offer(branch_code: str = "I01B01", manager: str | None = "manager1", **kw) -> Offer:
    customer = fresh_customer(branch_code, manager)
    product = product_for(customer.institution_id)
    now = dt.datetime.now()
    offer = Offer(
        customer_id=customer.id,
        product_id=product.id,
        branch_id=customer.branch_id,
        institution_id=customer.institution_id,
        manager_id=customer.manager_id,
        limit_amount=Decimal(kw.get("limit", "50000")),
        rate=Decimal("6.5"),
        expiry_date=kw.get("expiry", dt.date.today() + dt.timedelta(days=90)),
        status=kw.get("status", "active"),
        version=1,
        created_at=now,
        updated_at=now,
    )
    db.session.add(offer)
    db.session.commit()
    return offer


def make_application(
    state: str,
    manager: str | None = "manager1",
    branch: str = "I01B01",
    reviewer: str | None = None,
) -> int:
    """An application inserted directly in `state` (for lifecycle tests), with a history."""
    offer = fresh_offer(branch, manager)
    now = dt.datetime.now()
    app_id = db.session.execute(
        insert(Application)
        .values(
            app_no=f"T{next(_seq):06d}{secrets.token_hex(4)}",
            channel="mbank",
            channel_request_id=secrets.token_hex(8),
            offer_id=offer.id,
            customer_id=offer.customer_id,
            product_id=offer.product_id,
            branch_id=offer.branch_id,
            institution_id=offer.institution_id,
            manager_id=user_id(manager) if manager else None,
            amount=Decimal("20000"),
            offer_limit=offer.limit_amount,
            rate=offer.rate,
            state=state,
            version=1,
            auth_ref="AUTH" + secrets.token_hex(6),
            auth_version="v1",
            auth_signed_at=now,
            contract_ref="CT" + secrets.token_hex(6),
            contract_hash="0" * 64,
            submitted_at=now,
            assigned_at=now if manager else None,
            last_action_at=now,
        )
        .returning(Application.id)
    ).scalar_one()
    if reviewer:
        db.session.execute(
            insert(ApplicationEvent).values(
                application_id=app_id,
                action="pass",
                from_state="under_review",
                to_state="review_passed",
                version=1,
                actor_id=user_id(reviewer),
                actor_kind="account_manager",
                at=now,
            )
        )
    db.session.commit()
    return app_id


def channel_key(institution_id: int | None = None) -> tuple[str, str]:
    key, secret = channel_keys.issue(db.session, "mbank", institution_id, "test")
    db.session.commit()
    return key.key_id, secret


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes, **over):
    ts = str(over.pop("timestamp", int(time.time())))
    nonce = over.pop("nonce", secrets.token_hex(12))
    headers = {
        "X-Api-Key": key_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": channel_keys.sign(secret, method, path, ts, nonce, body),
        "Content-Type": "application/json",
    }
    headers.update(over)
    return headers


class ChannelClient:
    """Signs and sends channel API requests through a Flask test client."""

    def __init__(self, client, key_id: str, secret: str) -> None:
        self.client, self.key_id, self.secret = client, key_id, secret

    def call(self, method: str, path: str, payload=None, raw: bytes | None = None, **over):
        full = "/api/channel/v1" + path
        body = (
            raw
            if raw is not None
            else (json.dumps(payload).encode() if payload is not None else b"")
        )
        headers = signed_headers(self.key_id, self.secret, method, full, body, **over)
        return self.client.open(full, method=method, data=body, headers=headers)


def submit_body(offer: Offer, **over) -> dict:
    customer = db.session.get(Customer, offer.customer_id)
    body = {
        "request_id": "REQ" + secrets.token_hex(8),
        "offer_id": offer.id,
        "id_number": customer.id_number,
        "mobile": customer.mobile,
        "amount": "20000.00",
        "authorization": {
            "ref": "ZXSQ" + secrets.token_hex(8),
            "version": "2026.1",
            "signed_at": dt.datetime.now().isoformat(timespec="seconds"),
        },
        "contract": {"ref": "HT" + secrets.token_hex(8), "hash": hashlib.sha256(b"c").hexdigest()},
        "device": {"os": "Android 14", "app_version": "8.2.0"},
    }
    body.update(over)
    return body
