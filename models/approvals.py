"""Approval flows as data (审批策略) and the approval queue (审批队列).

A policy (per institution × product × purpose) holds amount bands, each a chain of
steps (role, where the queue lives, authority limit). Editing a policy writes a new
version; an approval case keeps the version it started with. A case is one subject
(an application, or a credit-line limit change) moving through its band's steps; the
claim columns make sure two approvers never work one case.
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.whitelist import Product

PURPOSES = {"application": "授信申请审批", "limit_adjust": "额度调整审批"}
MODES = {"direct": "网点直批", "multi": "多级审批", "central": "集中审批", "mixed": "按金额组合"}
QUEUES = {"branch": "申请所属网点", "institution": "法人机构", "central": "省联社集中"}
CASE_STATES = {"open": "待审批", "approved": "已通过", "rejected": "已拒绝", "cancelled": "已撤销"}


class ApprovalPolicy(Model):
    """One version of an approval policy; `code` ties the versions together."""

    __tablename__ = "approval_policy"
    __table_args__ = (UniqueConstraint("code", "version", name="uq_approval_policy_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    name: Mapped[str] = mapped_column(String(60), nullable=False)
    purpose: Mapped[str] = mapped_column(String(20), nullable=False, default="application")
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    mode: Mapped[str] = mapped_column(String(12), nullable=False)
    disbursement: Mapped[str] = mapped_column(String(10), nullable=False, default="auto")
    bands: Mapped[list] = mapped_column(JSON, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    institution: Mapped[OrgUnit | None] = relationship(OrgUnit)
    product: Mapped[Product | None] = relationship(Product)

    __scope__ = {"institution": "institution_id"}

    @property
    def mode_label(self) -> str:
        return MODES.get(self.mode, self.mode)

    @property
    def purpose_label(self) -> str:
        return PURPOSES.get(self.purpose, self.purpose)

    def __repr__(self) -> str:
        return f"{self.name} v{self.version}"


class ApprovalCase(Model):
    """One subject in approval: current step, where its queue lives, who holds the claim."""

    __tablename__ = "approval_case"
    __table_args__ = (
        # covering indexes: the queue page, its counts and the per-level counts of a branch or
        # institution are answered from the index alone (no heap visits over thousands of rows)
        Index(
            "ix_approval_case_queue2",
            "queue_node_id",
            "state",
            "step_opened_at",
            "id",
            "branch_id",
            "institution_id",
            "claimed_by",
        ),
        Index(
            "ix_approval_case_branch_open", "branch_id", "state", "queue_level", "step_opened_at"
        ),
        Index(
            "ix_approval_case_inst_open", "institution_id", "state", "queue_level", "step_opened_at"
        ),
        Index("ix_approval_case_subject", "subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(20), nullable=False)  # application / limit_adjust
    subject_id: Mapped[int] = mapped_column(Integer, nullable=False)
    ref_no: Mapped[str] = mapped_column(String(40), nullable=False)
    policy_id: Mapped[int] = mapped_column(ForeignKey("approval_policy.id"), nullable=False)
    band_index: Mapped[int] = mapped_column(Integer, nullable=False)
    step_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    step_count: Mapped[int] = mapped_column(Integer, nullable=False)
    queue_level: Mapped[str] = mapped_column(String(12), nullable=False)
    queue_node_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    step_role: Mapped[str] = mapped_column(String(30), nullable=False)
    step_limit: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), nullable=False)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), nullable=False)
    customer_id: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), nullable=False)
    approved_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    approved_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    state: Mapped[str] = mapped_column(String(12), nullable=False, default="open")
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claim_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    step_opened_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    policy: Mapped[ApprovalPolicy] = relationship(ApprovalPolicy)
    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])
    queue_node: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[queue_node_id])
    claimer: Mapped[StaffUser | None] = relationship(StaffUser, foreign_keys=[claimed_by])

    __scope__ = {"institution": "institution_id", "branch": "branch_id"}

    @property
    def state_label(self) -> str:
        return CASE_STATES.get(self.state, self.state)

    @property
    def queue_label(self) -> str:
        return QUEUES.get(self.queue_level, self.queue_level)

    def __repr__(self) -> str:
        return f"审批 {self.ref_no}"


class ApprovalDecision(Model):
    """The case's history: open, claim, release, approve (a step), escalate, reject."""

    __tablename__ = "approval_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("approval_case.id"), index=True, nullable=False)
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(12), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    reason: Mapped[str | None] = mapped_column(String(300))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)

    def __repr__(self) -> str:
        return f"case#{self.case_id} {self.action}"
