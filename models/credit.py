"""Credit lines (额度), contracts (合同) and batch account opening (批量开户)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from models.customers import Customer
from models.whitelist import Product

LINE_STATES = {
    "opening": "开通中",
    "active": "正常",
    "frozen": "已冻结",
    "closed": "已关闭",
    "failed": "开通失败",
    "expired": "已到期",
}
CONTRACT_STATES = {"signed": "已签约", "terminating": "解约中", "terminated": "已解约"}
BATCH_ITEM_STATES = {"pending": "待处理", "ok": "成功", "failed": "失败"}


class CreditLine(Model):
    """A customer's credit line in core banking: limit, used, expiry, status."""

    __tablename__ = "credit_line"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True, nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), nullable=False)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True, nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    limit_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    # an approved limit change waiting for core banking's confirmation (调整待核心确认)
    pending_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    used_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False, default=0)
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 4), nullable=False)
    expiry_date: Mapped[dt.date] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="opening")
    core_ref: Mapped[str | None] = mapped_column(String(40), index=True)
    usage_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # used amount from core
    card_link_ref: Mapped[str | None] = mapped_column(String(40))
    opened_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    customer: Mapped[Customer] = relationship(Customer)
    product: Mapped[Product] = relationship(Product)
    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    @property
    def available_amount(self) -> Decimal:
        return max(self.limit_amount - (self.used_amount or 0), Decimal(0))

    @property
    def status_label(self) -> str:
        return LINE_STATES.get(self.status, self.status)

    @property
    def pending_label(self) -> str:
        if self.pending_limit is None:
            return ""
        return f"调整至 {self.pending_limit:,.2f} 元，待核心确认"

    @property
    def customer_label(self) -> str:
        c = self.customer
        return f"{c.name_masked}（{c.id_number_masked}）" if c else ""

    def __repr__(self) -> str:
        return f"额度 {self.line_no}"


class CreditLineEvent(Model):
    """History of a credit line: opened, frozen, unfrozen, closed, limit changed."""

    __tablename__ = "credit_line_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    credit_line_id: Mapped[int] = mapped_column(
        ForeignKey("credit_line.id"), index=True, nullable=False
    )
    action: Mapped[str] = mapped_column(String(20), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12), nullable=False)
    old_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    new_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    def __repr__(self) -> str:
        return f"line#{self.credit_line_id} {self.action}"


class Contract(Model):
    """The loan contract signed in core banking (签约); terminated through it (解约)."""

    __tablename__ = "loan_contract"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("application.id"), unique=True)
    credit_line_id: Mapped[int] = mapped_column(
        ForeignKey("credit_line.id"), index=True, nullable=False
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), nullable=False)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True, nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="signed")
    core_ref: Mapped[str | None] = mapped_column(String(40))
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    terminate_reason: Mapped[str | None] = mapped_column(String(300))

    customer: Mapped[Customer] = relationship(Customer)
    credit_line: Mapped[CreditLine] = relationship(CreditLine)
    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    @property
    def status_label(self) -> str:
        return CONTRACT_STATES.get(self.status, self.status)

    @property
    def customer_label(self) -> str:
        c = self.customer
        return f"{c.name_masked}（{c.id_number_masked}）" if c else ""

    def __repr__(self) -> str:
        return f"合同 {self.contract_no}"


class BatchOpening(Model):
    """A batch of approved applications opened in core banking by one job (批量开户)."""

    __tablename__ = "batch_opening"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued")
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    institution: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[institution_id])

    __scope__ = {"institution": "institution_id", "branch": "branch_id"}

    def __repr__(self) -> str:
        return f"批量开户 #{self.id}"


class BatchOpeningItem(Model):
    """One application of a batch and its result."""

    __tablename__ = "batch_opening_item"
    __table_args__ = (UniqueConstraint("batch_id", "application_id", name="uq_batch_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("batch_opening.id"), index=True, nullable=False
    )
    application_id: Mapped[int] = mapped_column(ForeignKey("application.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    error: Mapped[str | None] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    @property
    def status_label(self) -> str:
        return BATCH_ITEM_STATES.get(self.status, self.status)

    def __repr__(self) -> str:
        return f"batch#{self.batch_id} app#{self.application_id}"
