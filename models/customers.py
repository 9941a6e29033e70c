"""Customers (客户): identity from the resident ID number, contact, branch and account manager."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.core import code_string
from portal.core.identity import parse_resident_id
from portal.core.masking import MOBILE, RESIDENT_ID, mask_id_number, mask_mobile, mask_name


class Customer(Model):
    """A customer record; ID number and mobile are personal data, masked on display."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_number: Mapped[str] = mapped_column(code_string(18), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(50), nullable=False)
    mobile: Mapped[str | None] = mapped_column(code_string(20), index=True)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(1))  # "M" / "F"
    branch_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True, nullable=False)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=False
    )
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False
    )
    updated_at: Mapped[dt.datetime | None] = mapped_column(
        DateTime, onupdate=func.current_timestamp()
    )

    branch: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[branch_id])
    institution: Mapped[OrgUnit] = relationship(OrgUnit, foreign_keys=[institution_id])
    manager: Mapped[StaffUser | None] = relationship(StaffUser, foreign_keys=[manager_id])

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "manager_id"}
    # shown masked everywhere; searched by the complete value only (portal/access/masked_search.py)
    __masked__ = {"id_number": RESIDENT_ID, "mobile": MOBILE}

    @validates("id_number")
    def _derive_from_id(self, _key: str, value: str) -> str:
        """Any ORM write of an ID number validates it and derives birth date and gender."""
        rid = parse_resident_id(value)
        self.birth_date = rid.birth_date
        self.gender = rid.gender
        return rid.number

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def mobile_masked(self) -> str:
        return mask_mobile(self.mobile)

    @property
    def name_masked(self) -> str:
        return mask_name(self.name)

    @property
    def gender_label(self) -> str:
        return {"M": "男", "F": "女"}.get(self.gender or "", "")

    @property
    def masked_label(self) -> str:
        """张*明（4401**********123X）: how a customer is named on pages of other records."""
        return f"{mask_name(self.name)}（{mask_id_number(self.id_number)}）"

    def __repr__(self) -> str:
        return self.masked_label
