"""Whitelist (白名单): products, blacklist, pre-approved offers with history, import batches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.core import code_string
from models.customers import Customer
from portal.core.masking import RESIDENT_ID, mask_id_number

OFFER_STATES = {
    "pending": "待发布",
    "active": "有效",
    "applied": "已申请",
    "expired": "已过期",
    "revoked": "已撤销",
}
IMPORT_STATES = {
    "queued": "排队中",
    "running": "处理中",
    "validated": "校验完成（试运行）",
    "committed": "已导入",
    "none_valid": "全部未通过（未导入）",
    "rejected": "已拒绝（未导入）",
    "duplicate": "重复文件（未导入）",
    "failed": "执行失败",
}
# an import in one of these states is over and is not run again ("failed" may be re-run)
IMPORT_DONE_STATES = ("committed", "validated", "none_valid", "rejected", "duplicate")
IMPORT_MODES = {"all_or_nothing": "全部成功才导入", "valid_only": "仅导入正确行"}


class Product(Model):
    """A pre-approved credit product (消费易, 卡贷宝 …) of one institution, with its bounds."""

    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("institution_id", "code", name="uq_product_inst_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    limit_min: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    limit_max: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    rate_min: Mapped[Decimal] = mapped_column(Numeric(7, 4), nullable=False)  # annual %
    rate_max: Mapped[Decimal] = mapped_column(Numeric(7, 4), nullable=False)
    term_months: Mapped[int] = mapped_column(Integer, nullable=False, default=12)
    validity_days: Mapped[int] = mapped_column(Integer, nullable=False, default=180)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    institution: Mapped[OrgUnit] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id"}

    def __repr__(self) -> str:
        return f"{self.name}（{self.code}）"


class BlacklistEntry(Model):
    """A customer refused by risk monitoring (黑名单); matched by ID number on import."""

    __tablename__ = "blacklist_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_number: Mapped[str] = mapped_column(code_string(18), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    source: Mapped[str | None] = mapped_column(String(40))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )

    institution: Mapped[OrgUnit | None] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id"}
    __masked__ = {"id_number": RESIDENT_ID}  # searched by the complete value only

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    def __repr__(self) -> str:
        return f"黑名单 {mask_id_number(self.id_number)}"


class WhitelistImport(Model):
    """One uploaded whitelist file and what its validation / merge did."""

    __tablename__ = "whitelist_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200), nullable=False)
    file_hash: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    file_size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stored_path: Mapped[str | None] = mapped_column(String(300))
    mode: Mapped[str] = mapped_column(String(16), nullable=False, default="all_or_nothing")
    dry_run: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued", index=True)
    message: Mapped[str | None] = mapped_column(Text)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    total_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    valid_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    offers_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    offers_changed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    offers_unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    offers_revoked: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    customers_created: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error_report: Mapped[str | None] = mapped_column(String(300))
    seconds: Mapped[float | None] = mapped_column(Numeric(10, 2))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # renewed while the import runs (portal.whitelist.lease); a stale one fails the import
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    uploaded_by: Mapped[StaffUser | None] = relationship(StaffUser)
    institution: Mapped[OrgUnit | None] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id", "owner": "uploaded_by_id"}

    @property
    def status_label(self) -> str:
        """The state, with the rows that went in when not all did (已导入 1/2 行)."""
        label = IMPORT_STATES.get(self.status, self.status)
        if self.status == "committed" and self.error_rows:
            return f"{label} {self.valid_rows:,}/{self.total_rows:,} 行"
        if self.status == "none_valid":
            return f"全部未通过（0/{self.total_rows:,} 行，未导入）"
        return label

    @property
    def mode_label(self) -> str:
        label = IMPORT_MODES.get(self.mode, self.mode)
        return f"试运行（{label}）" if self.dry_run else label

    def __repr__(self) -> str:
        return f"导入批次 #{self.id} {self.file_name}"


class Offer(Model):
    """A pre-approved offer (预授信额度): one per (customer, product), versioned."""

    __tablename__ = "offer"
    __table_args__ = (
        UniqueConstraint("customer_id", "product_id", name="uq_offer_customer_product"),
        Index("ix_offer_status_expiry", "status", "expiry_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), nullable=False)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True, nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    limit_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 4), nullable=False)  # annual %
    expiry_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(code_string(10), nullable=False, default="pending")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # version last accepted by mobile banking; < version means "in the next delta"
    synced_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    import_id: Mapped[int | None] = mapped_column(Integer)
    applied_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    customer: Mapped[Customer] = relationship(Customer)
    product: Mapped[Product] = relationship(Product)
    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])
    institution: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[institution_id])
    manager: Mapped[StaffUser | None] = relationship(StaffUser)

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    @property
    def status_label(self) -> str:
        return OFFER_STATES.get(self.status, self.status)

    @property
    def customer_label(self) -> str:
        return self.customer.masked_label if self.customer else ""

    def __repr__(self) -> str:
        return f"额度 #{self.id} {self.limit_amount} 元"


class OfferHistory(Model):
    """One change of an offer: limit/rate/expiry before and after, status before and after."""

    __tablename__ = "offer_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offer.id"), index=True, nullable=False)
    event: Mapped[str] = mapped_column(String(12), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    old_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    new_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    old_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    new_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    old_expiry: Mapped[dt.date | None] = mapped_column(Date)
    new_expiry: Mapped[dt.date | None] = mapped_column(Date)
    old_status: Mapped[str | None] = mapped_column(String(10))
    new_status: Mapped[str | None] = mapped_column(String(10))
    import_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    offer: Mapped[Offer] = relationship(Offer)

    def __repr__(self) -> str:
        return f"offer#{self.offer_id} v{self.version} {self.event}"


class OfferSyncBatch(Model):
    """One delta of offers pushed to mobile banking through the outbox (同步批次)."""

    __tablename__ = "offer_sync_batch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_count: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    remote_batch: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def status_label(self) -> str:
        return {"pending": "同步中", "done": "已同步", "dead": "同步失败"}.get(
            self.status, self.status
        )

    def __repr__(self) -> str:
        return f"同步批次 #{self.id}"


class EodRun(Model):
    """One end-of-day batch (日终跑批) per business date: the row makes it idempotent."""

    __tablename__ = "eod_run"

    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    expired: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    applied: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    def __repr__(self) -> str:
        return f"日终 {self.business_date}"
