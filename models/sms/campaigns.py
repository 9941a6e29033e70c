"""Campaigns (精准营销): a monthly two-phase SMS campaign — snapshot the audience, then send."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from models.whitelist import Product

RUN_STATES = {
    "snapshotted": "已锁定名单",
    "sending": "发送中",
    "sent": "已发送",
}


class Campaign(Model):
    """A recurring campaign: who (active offers not yet applied), which template, when."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    template_code: Mapped[str] = mapped_column(String(40), nullable=False)
    snapshot_day: Mapped[int] = mapped_column(Integer, nullable=False, default=4)
    snapshot_time: Mapped[str] = mapped_column(String(5), nullable=False, default="23:00")
    send_day: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    send_time: Mapped[str] = mapped_column(String(5), nullable=False, default="12:00")
    applied_window_days: Mapped[int] = mapped_column(Integer, nullable=False, default=7)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )

    institution: Mapped[OrgUnit] = relationship(OrgUnit)
    product: Mapped[Product | None] = relationship(Product)

    __scope__ = {"institution": "institution_id"}

    @property
    def schedule_label(self) -> str:
        return (
            f"每月 {self.snapshot_day} 日 {self.snapshot_time} 锁定名单，"
            f"{self.send_day} 日 {self.send_time} 发送"
        )

    def __repr__(self) -> str:
        return self.name


class CampaignRun(Model):
    """One month of a campaign; the unique (campaign, period) row makes each phase run once."""

    __tablename__ = "campaign_run"
    __table_args__ = (UniqueConstraint("campaign_id", "period", name="uq_campaign_run_period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id"), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)  # YYYY-MM
    institution_id: Mapped[int] = mapped_column(Integer, index=True, nullable=False)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="snapshotted")
    audience: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    queued: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    suppressed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    snapshot_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    campaign: Mapped[Campaign] = relationship(Campaign)

    __scope__ = {"institution": "institution_id"}

    @property
    def status_label(self) -> str:
        return RUN_STATES.get(self.status, self.status)

    def __repr__(self) -> str:
        return f"{self.campaign} {self.period}"


class CampaignMember(Model):
    """One customer in a run's audience; unique per (run, customer): one SMS at most."""

    __tablename__ = "campaign_member"
    __table_args__ = (UniqueConstraint("run_id", "customer_id", name="uq_campaign_member"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("campaign_run.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(Integer, nullable=False)
    offer_id: Mapped[int] = mapped_column(Integer, nullable=False)

    def __repr__(self) -> str:
        return f"run#{self.run_id} customer#{self.customer_id}"
