"""Staff users (用户管理): Flask-AppBuilder's user admin, scoped to the admin's institution."""

from __future__ import annotations

from flask import current_app, flash, redirect
from flask_appbuilder.actions import action
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterEqual, FilterInFunction
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.security.views import UserDBModelView
from sqlalchemy import select
from wtforms.validators import Optional, Regexp

from portal.access import audit, login_guard
from portal.access.org import staff_institution
from portal.access.permissions import METHOD_PERMISSION_NAME, RESOURCE_STAFF, ROLE_HQ_ADMIN, ROLES
from portal.access.scoping import SCOPE_BASE_FILTERS, current_scope
from portal.core.extensions import db
from portal.core.form_input import NameRefused
from portal.core.form_validators import MobileValidator
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
    "locked_until": "临时锁定至",
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
                    "locked_until",
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

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """Flask-AppBuilder's user page, with 解除锁定 beside 重置密码."""
        item = self._get_scoped_or_404(pk)
        actions = {name: self.actions[name] for name in ("resetpasswords", "unlock")}
        widgets = self._get_show_widget(pk, item, actions=actions)
        self.update_redirect()
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            appbuilder=self.appbuilder,
            related_views=self._related_views,
        )

    @action("unlock", "解除锁定", "解除所选用户的登录锁定？", "fa-unlock", multiple=True)
    def unlock(self, items):
        """Lift the temporary lock of repeated failed logins (not a deactivation: 启用 is
        the edit form's). Rows come through the scope (GuardedActionsMixin)."""
        items = items if isinstance(items, list) else [items]
        lifted = 0
        for user in items:
            if login_guard.unlock(user):
                lifted += 1
                audit.record(db.session, "account_unlocked", "user", user.id)
        db.session.commit()
        if lifted:
            flash(f"已解除 {lifted} 个用户的登录锁定", "success")
        else:
            flash("所选用户未被锁定（登录失败计数已清零）", "info")
        return redirect(self.get_redirect())

    def pre_add(self, item) -> None:
        super().pre_add(item)
        item.institution_id = staff_institution(item.org_unit)

    def pre_update(self, item) -> None:
        super().pre_update(item)
        item.institution_id = staff_institution(item.org_unit)
