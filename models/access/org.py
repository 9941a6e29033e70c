"""Org tree (机构树): province (省联社) → institution (法人机构) → branch (网点)."""

from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

KIND_PROVINCE = "province"
KIND_INSTITUTION = "institution"
KIND_BRANCH = "branch"
KIND_LABELS = {KIND_PROVINCE: "省联社", KIND_INSTITUTION: "法人机构", KIND_BRANCH: "网点"}


class OrgUnit(Model):
    """One node of the org tree; `institution_id` is the node's own bank (NULL at HQ)."""

    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)

    parent: Mapped[OrgUnit | None] = relationship(
        "OrgUnit", remote_side=[id], foreign_keys=[parent_id]
    )
    institution: Mapped[OrgUnit | None] = relationship(
        "OrgUnit", remote_side=[id], foreign_keys=[institution_id], post_update=True
    )

    # scope columns (see portal/access/scoping.py)
    __scope__ = {"institution": "institution_id", "branch": "id"}

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def __repr__(self) -> str:
        return self.name
