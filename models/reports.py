"""Reports and dashboards (报表与看板): pre-aggregated figures, marketing targets, daily reports.

Every summary row carries institution_id / branch_id / manager_id so the one scope
function (portal/access/scoping.py) filters it exactly like the raw rows it summarises.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_appbuilder import Model
from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.applications import ApplicationEvent
from models.sms.messages import SmsMessage
from models.whitelist import Offer

# Range indexes the incremental refresh needs on tables owned by other domains.
Index("ix_application_event_at", ApplicationEvent.at)
Index("ix_sms_message_sent_at", SmsMessage.sent_at)
Index("ix_offer_updated_at", Offer.updated_at)

GRAIN_MANAGER, GRAIN_BRANCH, GRAIN_INSTITUTION = "m", "b", "i"


class AggDaily(Model):
    """Daily application figures in long form: one metric per row, at three grains.

    grain m = (day, branch, manager), b = (day, branch), i = (day, institution);
    `n` counts, `total` sums an amount or seconds (see portal/reports/aggregates.py METRICS).
    """

    __tablename__ = "agg_daily"
    __table_args__ = (
        Index("ix_agg_daily_grain_day", "grain", "day", "institution_id", "branch_id"),
        Index("ix_agg_daily_branch_day", "branch_id", "day"),
        Index("ix_agg_daily_manager_day", "manager_id", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grain: Mapped[str] = mapped_column(String(1), nullable=False)
    day: Mapped[dt.date] = mapped_column(Date, nullable=False)
    institution_id: Mapped[int] = mapped_column(Integer, nullable=False)
    branch_id: Mapped[int | None] = mapped_column(Integer)
    manager_id: Mapped[int | None] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(24), nullable=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False, default=0)

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    def __repr__(self) -> str:
        return f"{self.day} {self.grain} {self.metric}={self.n}"


class AggOffer(Model):
    """Whitelist stock (白名单存量) per branch, manager and offer status."""

    __tablename__ = "agg_offer"
    __table_args__ = (Index("ix_agg_offer_branch", "branch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(Integer, index=True, nullable=False)
    branch_id: Mapped[int] = mapped_column(Integer, nullable=False)
    manager_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    limit_total: Mapped[Decimal] = mapped_column(Numeric(18, 2), nullable=False, default=0)

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    def __repr__(self) -> str:
        return f"offers {self.branch_id}/{self.manager_id} {self.status}={self.n}"


class AggOpen(Model):
    """Open (not final) applications per branch, manager, state and hour they entered it."""

    __tablename__ = "agg_open"
    __table_args__ = (Index("ix_agg_open_branch", "branch_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(Integer, index=True, nullable=False)
    branch_id: Mapped[int] = mapped_column(Integer, nullable=False)
    manager_id: Mapped[int | None] = mapped_column(Integer, index=True)
    state: Mapped[str] = mapped_column(String(24), nullable=False)
    since_hour: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    n: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    def __repr__(self) -> str:
        return f"open {self.branch_id}/{self.manager_id} {self.state}={self.n}"


class AggWatermark(Model):
    """How far the incremental refresh has read each source (last id or timestamp)."""

    __tablename__ = "agg_watermark"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    def __repr__(self) -> str:
        return f"{self.name}@{self.last_id}"


class MarketingTarget(Model):
    """A monthly marketing target (营销目标) for a branch (no manager) or an account manager."""

    __tablename__ = "marketing_target"
    __table_args__ = (
        UniqueConstraint("month", "branch_id", "manager_id", name="uq_marketing_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), nullable=False, index=True)  # YYYY-MM
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True, nullable=False)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    applications: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    approved_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2), nullable=False, default=0)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    institution: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[institution_id])
    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])
    manager: Mapped[StaffUser | None] = relationship(StaffUser, foreign_keys=[manager_id])

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}

    @property
    def level_label(self) -> str:
        return "客户经理" if self.manager_id else "网点"

    def __repr__(self) -> str:
        return f"{self.month} 营销目标 #{self.id}"


class DailyReport(Model):
    """One generated application-detail workbook (消费易申请明细报表) per date and institution."""

    __tablename__ = "daily_report"
    __table_args__ = (UniqueConstraint("business_date", "institution_id", name="uq_daily_report"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    file_name: Mapped[str] = mapped_column(String(200), nullable=False)
    stored_path: Mapped[str] = mapped_column(String(400), nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    institution: Mapped[OrgUnit] = relationship(OrgUnit)

    __scope__ = {"institution": "institution_id"}

    @property
    def download_link(self):
        from flask import url_for
        from markupsafe import Markup

        url = url_for("DailyReportView.workbook", pk=self.id)
        return Markup(f'<a href="{url}"><i class="fa fa-download"></i> 下载 Excel</a>')

    def __repr__(self) -> str:
        return f"消费易申请明细报表 {self.business_date}"
