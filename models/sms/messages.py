"""SMS (短信): templates managed by admins, the message log, per-customer opt-out."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from portal.core.masking import MOBILE, mask_mobile

SMS_CATEGORIES = {"marketing": "营销类", "notice": "通知类"}
SMS_STATES = {
    "queued": "待发送",
    "deferred": "免打扰延后",
    "sent": "已提交网关",
    "delivered": "已送达",
    "failed": "发送失败",
    "suppressed": "已退订未发",
}


class SmsTemplate(Model):
    """An SMS template: sandboxed Jinja text with declared variables, checked on save."""

    __tablename__ = "sms_template"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="notice")
    body: Mapped[str] = mapped_column(Text, nullable=False)
    variables: Mapped[str | None] = mapped_column(String(300))  # comma-separated names
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    updated_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime, server_default=func.current_timestamp(), onupdate=func.current_timestamp()
    )

    institution: Mapped[OrgUnit | None] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id"}

    @property
    def category_label(self) -> str:
        return SMS_CATEGORIES.get(self.category, self.category)

    def __repr__(self) -> str:
        return f"{self.code} {self.name}"


class SmsMessage(Model):
    """One SMS to one mobile; the mobile is personal data and shown masked."""

    __tablename__ = "sms_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, index=True)
    mobile: Mapped[str] = mapped_column(String(20), nullable=False)
    template_code: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(16), nullable=False, default="notice")
    content: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default="queued", index=True)
    gateway_msg_id: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(String(200))
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True)
    branch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False, index=True
    )
    not_before: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __scope__ = {"institution": "institution_id", "branch": "branch_id"}
    __masked__ = {"mobile": MOBILE}  # searched by the complete value only

    @property
    def mobile_masked(self) -> str:
        return mask_mobile(self.mobile)

    @property
    def state_label(self) -> str:
        return SMS_STATES.get(self.state, self.state)

    @property
    def category_label(self) -> str:
        return SMS_CATEGORIES.get(self.category, self.category)

    def __repr__(self) -> str:
        return f"sms#{self.id} {mask_mobile(self.mobile)} {self.state}"


class SmsOptOut(Model):
    """A customer who opted out of marketing SMS (退订)."""

    __tablename__ = "sms_opt_out"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customer.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    source: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )

    def __repr__(self) -> str:
        return f"opt-out customer#{self.customer_id}"
