"""Applications (申请): submitted from a channel, worked by an account manager, then approved.

The lifecycle itself (states, who may do what) is declared in portal/applications/lifecycle.py;
these tables hold the current state with an optimistic version, the event history,
investigation notes and contact attempts, per-institution settings, channel keys and
the stored first response of every channel request (idempotency).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_appbuilder import Model
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from models.whitelist import Offer, Product


class Application(Model):
    """One credit application (消费易申请); owned by the assigned account manager."""

    __tablename__ = "application"
    __table_args__ = (
        UniqueConstraint("channel", "channel_request_id", name="uq_application_channel_request"),
        Index("ix_application_manager_state", "manager_id", "state"),
        # auto-assignment's tie-break (the manager assigned longest ago): one index probe
        Index("ix_application_manager_assigned", "manager_id", "assigned_at"),
        Index("ix_application_branch_state", "branch_id", "state"),
        Index("ix_application_state_touched", "state", "last_action_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    channel_request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), index=True, nullable=False)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True, nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), nullable=False)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    offer_limit: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 4), nullable=False)
    state: Mapped[str] = mapped_column(String(24), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    auth_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    auth_version: Mapped[str] = mapped_column(String(20), nullable=False)
    auth_signed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    contract_ref: Mapped[str] = mapped_column(String(64), nullable=False)
    contract_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    device: Mapped[dict | None] = mapped_column(JSON)
    reason_code: Mapped[str | None] = mapped_column(String(30))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_action_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    customer: Mapped[Customer] = relationship(Customer)
    offer: Mapped[Offer] = relationship(Offer)
    product: Mapped[Product] = relationship(Product)
    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])
    institution: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[institution_id])
    manager: Mapped[StaffUser | None] = relationship(StaffUser, foreign_keys=[manager_id])

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    @property
    def state_label(self) -> str:
        from portal.applications.lifecycle import STATES

        return STATES.get(self.state, self.state)

    @property
    def customer_label(self) -> str:
        return self.customer.masked_label if self.customer else ""

    def __repr__(self) -> str:
        return f"申请 {self.app_no}"


class ApplicationEvent(Model):
    """One transition in an application's history: who, when, from, to, why."""

    __tablename__ = "application_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id"), index=True, nullable=False
    )
    action: Mapped[str] = mapped_column(String(24), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)  # NULL: system / channel
    actor_kind: Mapped[str] = mapped_column(String(20), nullable=False)  # role that acted
    reason_code: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    def __repr__(self) -> str:
        return f"#{self.application_id} {self.from_state}→{self.to_state}"


class ApplicationNote(Model):
    """An investigation note (调查记录) or a contact attempt (联系记录) on an application."""

    __tablename__ = "application_note"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        ForeignKey("application.id"), index=True, nullable=False
    )
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # note / contact
    outcome: Mapped[str | None] = mapped_column(String(20))  # contact: reached / no_answer …
    body: Mapped[str] = mapped_column(Text, nullable=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    author: Mapped[StaffUser] = relationship(StaffUser)

    def __repr__(self) -> str:
        return f"note#{self.id}"


class ApplicationSettings(Model):
    """Per-institution intake rules: assignment rule, SLA, escalation and expiry times."""

    __tablename__ = "application_settings"

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), primary_key=True)
    assign_rule: Mapped[str] = mapped_column(String(20), nullable=False, default="own_then_load")
    sla_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=15)
    escalate_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=120)
    need_info_expire_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=72)

    institution: Mapped[OrgUnit] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id"}

    def __repr__(self) -> str:
        return f"申请规则 {self.institution}"


class ChannelKey(Model):
    """An API key of a channel (手机银行 …); the secret is stored encrypted (see channel_keys)."""

    __tablename__ = "channel_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), nullable=False, index=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    secret_enc: Mapped[str] = mapped_column(Text, nullable=False)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    note: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    institution: Mapped[OrgUnit | None] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id"}

    def __repr__(self) -> str:
        return f"{self.channel}:{self.key_id}"


class ChannelRequest(Model):
    """The first response to a channel request id: a repeat gets it back, nothing is redone."""

    __tablename__ = "channel_request"
    __table_args__ = (UniqueConstraint("channel", "request_id", name="uq_channel_request"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    request_id: Mapped[str] = mapped_column(String(64), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(40), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    response: Mapped[dict] = mapped_column(JSON, nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    # SHA-256 of the request (endpoint, path, canonical JSON body): a repeat must match it
    body_hash: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"{self.channel}:{self.request_id}"
