"""Credit bureau (征信): inquiry authorizations on file and the log of every inquiry."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column


class CreditAuthorization(Model):
    """A signed credit-bureau inquiry authorization (征信查询授权书)."""

    __tablename__ = "credit_authorization"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True, nullable=False)
    authorization_no: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    valid_until: Mapped[dt.date] = mapped_column(Date, nullable=False)
    purpose: Mapped[str] = mapped_column(String(40), nullable=False, default="loan_approval")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    def __repr__(self) -> str:
        return f"authorization {self.authorization_no}"


class CreditInquiry(Model):
    """One credit-bureau inquiry attempt, refused or not (查询记录)."""

    __tablename__ = "credit_inquiry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, index=True, nullable=False)
    authorization_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(40), nullable=False)
    requested_by: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # ok / refused / error
    reason: Mapped[str | None] = mapped_column(String(200))
    report_ref: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"inquiry#{self.id} {self.outcome}"
