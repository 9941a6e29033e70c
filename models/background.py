"""Jobs backbone: the schedule claim ledger, the transactional outbox, sync cursors."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import JSON, DateTime, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

OUTBOX_STATES = {
    "pending": "待发送",
    "enqueued": "已入队",
    "running": "执行中",
    "done": "已完成",
    "dead": "死信",
}


class ScheduleRun(Model):
    """One claimed slot of a schedule: the unique row makes every slot run exactly once."""

    __tablename__ = "schedule_run"
    __table_args__ = (UniqueConstraint("job_name", "slot", name="uq_schedule_run_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    slot: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)  # business-local time
    claimed_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    catch_up: Mapped[bool] = mapped_column(default=False, nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"{self.job_name}@{self.slot:%Y-%m-%d %H:%M:%S} {self.status}"


class OutboxItem(Model):
    """An external call announced in the same transaction as the business change."""

    __tablename__ = "outbox_item"
    __table_args__ = (Index("ix_outbox_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    ref_id: Mapped[int | None] = mapped_column(Integer)  # the business row (e.g. sms_message.id)
    payload: Mapped[dict | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=6)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    rq_job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __scope__ = {"institution": "institution_id"}

    @property
    def state_label(self) -> str:
        return OUTBOX_STATES.get(self.state, self.state)

    def __repr__(self) -> str:
        return f"outbox#{self.id} {self.kind} {self.state}"


class IntegrationCursor(Model):
    """Where an incremental sync stopped (receipts, whitelist deltas)."""

    __tablename__ = "integration_cursor"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(120))
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    def __repr__(self) -> str:
        return f"{self.name}={self.value}"
