"""Staff users (用户管理): Flask-AppBuilder's user admin, scoped to the admin's institution."""

from __future__ import annotations

from flask import current_app
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterInFunction
from flask_appbuilder.security.views import UserDBModelView
from sqlalchemy import select
from wtforms.validators import Optional, Regexp

from portal.extensions import db
from portal.form_input import NameRefused
from portal.form_validators import MobileValidator
from portal.org import staff_institution
from portal.permissions import METHOD_PERMISSION_NAME, RESOURCE_STAFF, ROLE_HQ_ADMIN, ROLES
from portal.scoping import SCOPE_BASE_FILTERS, current_scope
from views.base import ScopedModelView, scoped

STAFF_LABELS = {
    "first_name": "名",
    "last_name": "姓",
    "username": "登录名",
    "password": "密码",
    "conf_password": "确认密码",
    "active": "启用",
    "email": "电子邮箱",
    "roles": "角色",
    "groups": "用户组",
    "org_unit": "所属机构/网点",
    "institution": "法人机构",
    "staff_no": "员工号",
    "phone": "手机号",
    "approval_limit": "审批权限金额（元）",
    "last_login": "上次登录",
    "login_count": "登录次数",
    "fail_login_count": "连续登录失败次数",
    "created_on": "创建时间",
    "created_by": "创建人",
    "changed_on": "修改时间",
    "changed_by": "修改人",
}


def _assignable_roles() -> list[str]:
    """HQ assigns any role; an institution admin cannot grant HQ admin."""
    names = [n for n, spec in ROLES.items() if spec.get("reach")]
    if current_scope().level != "all":
        names = [n for n in names if n != ROLE_HQ_ADMIN]
    return names


def _refused_roles(ids: list[str]) -> str:
    """The roles a posted id names that the admin may not grant (their labels are no secret:
    an institution admin reads the role list)."""
    role = current_app.appbuilder.sm.role_model
    wanted = [int(i) for i in ids if i.isdigit() and len(i) < 10]
    names = db.session.scalars(select(role.name).where(role.id.in_(wanted)).order_by(role.id))
    labels = [ROLES.get(n, {}).get("label", n) for n in names]
    return f"无权授予角色：{'、'.join(labels)}" if labels else "所选角色不存在"


class StaffUserView(ScopedModelView, UserDBModelView):
    class_permission_name = RESOURCE_STAFF
    method_permission_name = {**METHOD_PERMISSION_NAME, "userinfo": "userinfo"}
    base_filters = SCOPE_BASE_FILTERS
    list_title = "用户列表"
    show_title = "用户详情"
    add_title = "新增用户"
    edit_title = "修改用户"
    label_columns = STAFF_LABELS
    list_columns = [
        "staff_no",
        "username",
        "last_name",
        "first_name",
        "org_unit",
        "roles",
        "active",
    ]
    show_fieldsets = [
        (
            "用户信息",
            {"fields": ["username", "staff_no", "last_name", "first_name", "active", "roles"]},
        ),
        ("机构与权限", {"fields": ["institution", "org_unit", "approval_limit", "phone", "email"]}),
        (
            "登录与变更",
            {
                "fields": [
                    "last_login",
                    "login_count",
                    "fail_login_count",
                    "created_on",
                    "changed_on",
                ],
                "expanded": False,
            },
        ),
    ]
    user_show_fieldsets = [
        ("用户信息", {"fields": ["username", "staff_no", "last_name", "first_name", "roles"]}),
        ("机构", {"fields": ["org_unit", "phone", "email"], "expanded": True}),
    ]
    add_columns = [
        "username",
        "staff_no",
        "last_name",
        "first_name",
        "email",
        "phone",
        "org_unit",
        "roles",
        "approval_limit",
        "active",
        "password",
        "conf_password",
    ]
    edit_columns = [
        "staff_no",
        "last_name",
        "first_name",
        "email",
        "phone",
        "org_unit",
        "roles",
        "approval_limit",
        "active",
    ]
    search_columns = [
        "username",
        "staff_no",
        "last_name",
        "first_name",
        "org_unit",
        "roles",
        "active",
    ]
    validators_columns = {
        "staff_no": [Regexp(r"^[0-9A-Za-z]{3,20}$", message="员工号为 3–20 位字母或数字")],
        "phone": [Optional(), MobileValidator(required=False)],
        "roles": [NameRefused(_refused_roles)],
    }
    add_form_query_rel_fields = {
        "org_unit": scoped(["active", FilterEqual, True]),
        "roles": [["name", FilterInFunction, _assignable_roles]],
    }
    edit_form_query_rel_fields = add_form_query_rel_fields
    search_form_query_rel_fields = {"org_unit": scoped()}

    def pre_add(self, item) -> None:
        super().pre_add(item)
        item.institution_id = staff_institution(item.org_unit)

    def pre_update(self, item) -> None:
        super().pre_update(item)
        item.institution_id = staff_institution(item.org_unit)
