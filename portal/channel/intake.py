"""Application intake (申请受理): the channel submit path and request idempotency.

The submit path is the hot one (hundreds per second): on PostgreSQL one read (the offer
with its customer, blacklist hit and own manager, locked; the new ids drawn) and one write
(portal/core/single_statement.py), no ORM loading of whole objects, and everything external
(the manager's SMS) written to the outbox in the same transaction, never called inline;
the channel learns the application's status from the response.
A channel request id is idempotent: the first response is stored with the business
change, with the request's fingerprint, and returned for every repeat of the same request;
the id reused for a different request is refused (422 IDEMPOTENCY_KEY_REUSED).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.applications import ChannelRequest
from models.customers import Customer
from models.integrations import CreditAuthorization
from models.whitelist import BlacklistEntry, Offer
from portal.applications import assignment, lifecycle
from portal.applications import effects as application_effects
from portal.channel import request_bodies as intake_input
from portal.channel.keys import KeyInfo
from portal.channel.request_bodies import ChannelError
from portal.core import multirow
from portal.core import single_statement as statement_batch
from portal.whitelist import offers

AUTH_VALID_DAYS = 90


def stored_response(session: Session, channel: str, request_id: str):
    """The first request's answer and fingerprint (status_code, response, endpoint, body_hash)."""
    return session.execute(
        select(
            ChannelRequest.status_code,
            ChannelRequest.response,
            ChannelRequest.endpoint,
            ChannelRequest.body_hash,
        ).where(ChannelRequest.channel == channel, ChannelRequest.request_id == request_id)
    ).first()


def _store(session: Session, key: KeyInfo, request: tuple, status: int, body) -> None:
    request_id, endpoint, fingerprint = request
    multirow.insert_rows(
        session,
        ChannelRequest.__table__,
        [
            dict(
                channel=key.channel,
                request_id=request_id,
                endpoint=endpoint,
                status_code=status,
                response=body,
                at=dt.datetime.now(),
                body_hash=fingerprint,
            )
        ],
    )


def _replay(first, endpoint: str, fingerprint: str) -> tuple[int, dict]:
    """A repeated request id: the first answer, if this is the same request (same endpoint
    and path, same body). A request id reused for a different request is refused — the
    first answer would describe another request (requests stored before fingerprints were
    kept are compared by endpoint only)."""
    if first.endpoint != endpoint or (first.body_hash or fingerprint) != fingerprint:
        raise ChannelError(
            422,
            "IDEMPOTENCY_KEY_REUSED",
            "渠道请求流水号（request_id）已用于另一笔内容不同的请求，请为新请求使用新的流水号",
        )
    return first.status_code, first.response


def idempotent(
    session: Session,
    key: KeyInfo,
    request: tuple[str, str, str],
    work,
    one_statement=False,
):
    """Run `work()` → (status, body) once per (channel, request id), storing its answer.

    ``request`` is (request id, endpoint, fingerprint — intake_input.fingerprint). The happy
    path does not look first: a repeat fails on the business rules (offer already applied,
    application already withdrawn) or on the unique request id, and only then is the stored
    first response looked up — and returned when the repeat is the same request, refused
    (422 IDEMPOTENCY_KEY_REUSED) when it is not. `one_statement`: the work's writes and the
    stored answer go to PostgreSQL as one statement (portal/core/single_statement.py; the
    submission, whose writes are all inserts after one guarded update).
    """
    request_id, endpoint, fingerprint = request
    try:
        if one_statement:
            status, body = _one_statement(session, key, request, work)
        else:
            status, body = work()
            _store(session, key, request, status, body)
        session.commit()
    except (ChannelError, IntegrityError):
        session.rollback()
        first = stored_response(session, key.channel, request_id)
        if first is None:
            raise
        return _replay(first, endpoint, fingerprint)
    except Exception:
        session.rollback()
        raise
    return status, body


def _one_statement(session: Session, key: KeyInfo, request: tuple, work):
    try:
        with statement_batch.collect(session):
            status, body = work()
            _store(session, key, request, status, body)
    except offers.OfferError as exc:  # the offer's guarded update matched nothing
        raise ChannelError(409, "OFFER_ALREADY_APPLIED", str(exc)) from None
    return status, body


def _offer_stmt():
    """The offer, its customer, a blacklist hit and the customer's own manager if an active
    account manager of the offer's branch — Core columns, so no ORM work per request."""
    from models.access.staff import StaffUser
    from portal.applications.assignment import is_account_manager

    offer, customer = Offer.__table__, Customer.__table__
    black = BlacklistEntry.__table__
    own = StaffUser.__table__.alias("own")
    is_own = and_(
        own.c.id == customer.c.manager_id,
        own.c.active.is_(True),
        own.c.org_unit_id == offer.c.branch_id,
        is_account_manager(own.c.id),
    )
    return (
        select(
            offer.c.id,
            offer.c.status,
            offer.c.version,
            offer.c.expiry_date,
            offer.c.limit_amount,
            offer.c.rate,
            offer.c.customer_id,
            offer.c.product_id,
            offer.c.branch_id,
            offer.c.institution_id,
            customer.c.id_number,
            customer.c.mobile,
            black.c.id.label("blacklisted"),
            own.c.id.label("own_id"),
            own.c.phone.label("own_phone"),
        )
        .join(customer, customer.c.id == offer.c.customer_id)
        .outerjoin(black, black.c.id_number == customer.c.id_number)
        .outerjoin(own, is_own)
        .where(offer.c.id == bindparam("offer_id"))
        # the row lock the offer's status change needs, taken in this same read
        .with_for_update(of=offer)
    )


_OFFER_STMT = _offer_stmt()  # built once: the hot path only binds the id
# PostgreSQL: the same read also draws the ids of the application and its SMS from their
# sequences, so that the submission's writes can go as one statement (statement_batch)
_OFFER_STMT_PG = _offer_stmt().add_columns(
    func.nextval(func.pg_get_serial_sequence("application", "id")).label("application_id"),
    func.nextval(func.pg_get_serial_sequence("sms_message", "id")).label("sms_id"),
)


def _offer_for(session: Session, key: KeyInfo, offer_id: int, number: str, mobile: str):
    """The offer with its customer, blacklist hit and own active manager, in one query."""
    batch = statement_batch.current(session)
    row = session.execute(
        _OFFER_STMT if batch is None else _OFFER_STMT_PG, {"offer_id": offer_id}
    ).first()
    if row is None or row.id_number != number or row.mobile != mobile:
        # not the stored values as sent: validate them (400 with the exact reason), then
        # compare their normalised form (full-width digits, +86 …)
        number, mobile = intake_input.identity_values(number, mobile)
    if (
        row is None
        or row.id_number != number
        or row.mobile != mobile
        or (key.institution_id and key.institution_id != row.institution_id)
    ):
        raise ChannelError(404, "OFFER_NOT_FOUND", "预授信额度不存在，或不属于该客户")
    if row.status == "revoked":
        raise ChannelError(422, "OFFER_REVOKED", "该预授信额度已撤销")
    if row.status == "expired" or row.expiry_date < dt.date.today():
        raise ChannelError(422, "OFFER_EXPIRED", "该预授信额度已过期")
    if row.status == "applied":
        raise ChannelError(409, "OFFER_ALREADY_APPLIED", "该预授信额度已申请，请勿重复申请")
    if batch is not None:
        batch.give_ids("application", [row.application_id])
        batch.give_ids("sms_message", [row.sms_id])
    return row


# insert unless already on file, in one statement (PostgreSQL and SQLite ≥ 3.35 alike)
_AUTH_UPSERT = text(
    "INSERT INTO credit_authorization"
    " (customer_id, authorization_no, signed_at, valid_until, purpose, revoked)"
    " VALUES (:customer_id, :authorization_no, :signed_at, :valid_until, 'loan_approval', false)"
    " ON CONFLICT (authorization_no) DO NOTHING RETURNING id"
)


def _authorization(session: Session, customer_id: int, auth: dict) -> None:
    """Keep the signed 征信查询授权书 on file so the bureau adapter can use it."""
    values = dict(
        customer_id=customer_id,
        authorization_no=auth["ref"],
        signed_at=auth["signed_at"],
        valid_until=auth["signed_at"].date() + dt.timedelta(days=AUTH_VALID_DAYS),
    )
    batch = statement_batch.current(session)
    if batch is not None:  # with the submission's other writes; checked after them
        row = {**values, "purpose": "loan_approval", "revoked": False}
        index = batch.add_rows(CreditAuthorization.__table__, [row], ("authorization_no",))

        def _ours_or_new():
            if batch.inserted[index] == 0:
                _check_owner(session, customer_id, auth)

        batch.after(_ours_or_new)
        return
    if session.execute(_AUTH_UPSERT, values).first() is None:
        _check_owner(session, customer_id, auth)


def _check_owner(session: Session, customer_id: int, auth: dict) -> None:
    """The authorization number was on file already: it must be this customer's."""
    owner = session.scalar(
        select(CreditAuthorization.customer_id).where(
            CreditAuthorization.authorization_no == auth["ref"]
        )
    )
    if owner != customer_id:
        raise ChannelError(422, "AUTHORIZATION_INVALID", "征信查询授权书编号已被其他客户使用")


def submit(session: Session, key: KeyInfo, body: Any) -> tuple[int, dict]:
    """Record an application at once and auto-assign it (idempotent by request_id)."""
    body = intake_input.obj(body)
    rid = intake_input.request_id(body)
    offer_id = intake_input.positive_int(body, "offer_id", "预授信额度编号")
    number, mobile = intake_input.identity_text(body)  # validated against the offer's customer
    amount = intake_input.amount(body)
    auth = intake_input.authorization(body)
    contract = intake_input.contract(body)
    device = intake_input.device(body)
    return idempotent(
        session,
        key,
        (rid, "submit", intake_input.fingerprint(body, "submit")),
        lambda: _submit(
            session, key, rid, offer_id, number, mobile, amount, auth, contract, device
        ),
        one_statement=True,
    )


def _submit(session, key, rid, offer_id, number, mobile, amount, auth, contract, device):
    offer = _offer_for(session, key, offer_id, number, mobile)
    if amount > offer.limit_amount:
        raise ChannelError(
            422, "AMOUNT_OVER_LIMIT", f"申请金额超过预授信额度（{offer.limit_amount} 元）"
        )
    if offer.blacklisted:
        raise ChannelError(422, "CUSTOMER_BLACKLISTED", "客户不符合申请条件，请联系开户网点")
    try:
        # the offer service owns the offer's status; the row was locked by _offer_for
        offers.mark_applied(
            session, offer.id, locked=(offer.status, offer.version, offer.expiry_date)
        )
    except offers.OfferError as exc:
        raise ChannelError(409, "OFFER_ALREADY_APPLIED", str(exc)) from None
    _authorization(session, offer.customer_id, auth)
    if offer.own_id and assignment.settings(session, offer.institution_id).assign_rule == (
        "own_then_load"
    ):
        pick = (offer.own_id, offer.own_phone)
    else:
        pick = assignment.least_loaded(session, offer.branch_id)
    now = dt.datetime.now()
    app_no = f"AP{now:%y%m%d}{secrets.token_hex(5).upper()}"
    result = lifecycle.open_application(
        session,
        dict(
            app_no=app_no,
            channel=key.channel,
            channel_request_id=rid,
            offer_id=offer.id,
            customer_id=offer.customer_id,
            product_id=offer.product_id,
            branch_id=offer.branch_id,
            institution_id=offer.institution_id,
            amount=amount,
            offer_limit=offer.limit_amount,
            rate=offer.rate,
            auth_ref=auth["ref"],
            auth_version=auth["version"],
            auth_signed_at=auth["signed_at"],
            contract_ref=contract["ref"],
            contract_hash=contract["hash"],
            device=device,
            submitted_at=now,
        ),
        lifecycle.CHANNEL_ACTOR,
        pick[0] if pick else None,
        manager_phone=pick[1] if pick else None,
        reason=f"{key.channel} 渠道提交",
    )
    code, label = application_effects.channel_status(result.to_state)
    return 201, {
        "code": "OK",
        "message": "申请已受理",
        "request_id": rid,
        "application": {
            "app_no": app_no,
            "status": code,
            "status_label": label,
            "amount": str(amount),
            "submitted_at": now.isoformat(timespec="seconds"),
        },
    }
