"""Staff users: Flask-AppBuilder's user extended with org node, staff number, phone, authority."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.access.org import OrgUnit


class StaffUser(User):
    """A staff member (员工) sitting on one org node."""

    __tablename__ = "ab_user"

    org_unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=True
    )
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("org_unit.id"), index=True, nullable=True
    )
    staff_no: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    approval_limit: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    # every session and API token carries the epoch it was issued under; raising it ends
    # them all on every web process (portal.access.sessions)
    session_epoch: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    # temporary lock after repeated failed logins (portal.access.login_guard); past or None: unlocked
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    org_unit: Mapped[OrgUnit | None] = relationship(OrgUnit, foreign_keys=[org_unit_id])
    institution: Mapped[OrgUnit | None] = relationship(OrgUnit, foreign_keys=[institution_id])

    __scope__ = {"institution": "institution_id", "branch": "org_unit_id", "owner": "id"}

    def get_full_name(self) -> str:
        """Chinese order: family name then given name, no space (FAB shows this in the navbar)."""
        return f"{self.last_name}{self.first_name}"

    @property
    def display_name(self) -> str:
        return f"{self.last_name}{self.first_name}"

    def __repr__(self) -> str:
        return f"{self.last_name}{self.first_name}（{self.staff_no or self.username}）"
