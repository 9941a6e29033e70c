"""Staff services: create users on an org node with roles (CLI, demo, tests)."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from portal.access.org import staff_institution
from portal.core.extensions import db


def hash_password(password: str) -> str:
    return generate_password_hash(
        password,
        method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )


def create_staff(
    *,
    username: str,
    roles: list[str],
    org_code: str,
    password: str | None = None,
    password_hash: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str | None = None,
    staff_no: str | None = None,
    phone: str | None = None,
    approval_limit: Decimal | None = None,
    commit: bool = True,
) -> StaffUser:
    sm = current_app.appbuilder.sm
    node = db.session.execute(select(OrgUnit).where(OrgUnit.code == org_code)).scalar_one_or_none()
    if node is None:
        raise ValueError(f"机构号 {org_code} 不存在")
    role_objs = []
    for name in roles:
        role = sm.find_role(name)
        if role is None:
            raise ValueError(f"角色 {name} 不存在")
        role_objs.append(role)
    user = StaffUser(
        username=username,
        first_name=first_name or username,
        last_name=last_name,
        email=email or f"{username}@portal.local",
        active=True,
        password=password_hash or hash_password(password or ""),
        org_unit_id=node.id,
        institution_id=staff_institution(node),
        staff_no=staff_no,
        phone=phone,
        approval_limit=approval_limit,
    )
    user.roles = role_objs
    db.session.add(user)
    if commit:
        db.session.commit()
    return user
