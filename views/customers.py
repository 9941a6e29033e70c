"""Customers (客户): list/search/show/add/edit in scope, masked, with audited unmask and export."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from wtforms import StringField
from wtforms.validators import Length, Optional

from models.customers import Customer
from portal.access.exports import audit_export, csv_bytes
from portal.access.permissions import RESOURCE_CUSTOMER
from portal.access.scoping import apply_scope
from portal.core.form_validators import MobileValidator, ResidentIdValidator
from portal.core.identity import IdentityError
from portal.core.masking import mask_id_number, mask_mobile
from portal.customers import service as svc
from views.base import ScopedModelRestApi, ScopedModelView, branches_in_scope, scoped

LABELS = {
    "name": "姓名",
    "id_number": "身份证号",
    "id_number_masked": "身份证号",
    "mobile": "手机号",
    "mobile_masked": "手机号",
    "new_mobile": "新手机号",
    "birth_date": "出生日期",
    "gender_label": "性别",
    "gender": "性别",
    "branch": "所属网点",
    "institution": "法人机构",
    "manager": "客户经理",
    "address": "地址",
    "created_at": "建档时间",
    "updated_at": "更新时间",
}


class CustomerView(ScopedModelView):
    datamodel = SQLAInterface(Customer)
    class_permission_name = RESOURCE_CUSTOMER
    route_base = "/customers"
    list_title = "客户列表"
    show_title = "客户详情"
    add_title = "新增客户"
    edit_title = "修改客户"
    label_columns = LABELS
    list_columns = [
        "name",
        "id_number_masked",
        "mobile_masked",
        "gender_label",
        "birth_date",
        "branch",
        "manager",
    ]
    show_columns = [
        "name",
        "id_number_masked",
        "mobile_masked",
        "gender_label",
        "birth_date",
        "institution",
        "branch",
        "manager",
        "address",
        "created_at",
        "updated_at",
    ]
    add_columns = ["id_number", "name", "mobile", "branch", "manager", "address"]
    edit_columns = ["name", "new_mobile", "branch", "manager", "address"]
    search_columns = ["name", "id_number", "mobile", "branch", "manager"]
    order_columns = ["name", "birth_date"]
    base_order = ("id", "desc")
    show_template = "portal/customer_show.html"
    list_template = "portal/customer_list.html"
    description_columns = {
        "id_number": "18 位居民身份证号，出生日期与性别自动带出；保存后不可修改",
        "mobile": "11 位手机号，可带 +86 或空格",
        "new_mobile": "留空表示不修改；当前号码为脱敏显示",
    }
    validators_columns = {
        "id_number": [ResidentIdValidator()],
        "mobile": [MobileValidator()],
        "name": [Length(min=1, max=50, message="姓名长度 1–50 个字")],
    }
    edit_form_extra_fields = {
        "new_mobile": StringField(
            "新手机号", validators=[Optional(), MobileValidator(required=False)]
        )
    }
    add_form_query_rel_fields = {
        "branch": branches_in_scope(),
        "manager": scoped(["active", FilterEqual, True]),
    }
    edit_form_query_rel_fields = add_form_query_rel_fields
    search_form_query_rel_fields = {"branch": branches_in_scope(), "manager": scoped()}

    def prefill_form(self, form, pk) -> None:
        if "new_mobile" in form:
            form.new_mobile.data = ""

    def pre_add(self, item: Customer) -> None:
        svc.apply_identity(item, item.id_number, item.mobile)
        if svc.id_number_taken(self.datamodel.session, item.id_number):
            raise IdentityError("该身份证号的客户已存在")
        svc.sync_org(item)

    def pre_update(self, item: Customer) -> None:
        new_mobile = request.form.get("new_mobile", "").strip()
        if new_mobile:
            svc.apply_identity(item, None, new_mobile)
        svc.sync_org(item)

    @expose("/unmask/<int:pk>", methods=["POST"])
    @has_access
    def unmask(self, pk: int):
        item = self._get_scoped_or_404(pk)
        try:
            clear = svc.unmask(self.datamodel.session, item, request.form.get("reason", ""))
        except IdentityError as exc:
            flash(str(exc), "danger")
            return redirect(url_for(".show", pk=pk))
        widgets = self._get_show_widget(pk, item)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=self._related_views,
            clear=clear,
        )

    @expose("/export/", methods=["POST"])
    @has_access
    def export(self):
        session = self.datamodel.session
        stmt = apply_scope(session.query(Customer).order_by(Customer.id), Customer)
        header = [
            "客户编号",
            "姓名",
            "身份证号",
            "手机号",
            "性别",
            "出生日期",
            "法人机构",
            "网点",
            "客户经理",
        ]
        rows = (
            (
                c.id,
                c.name,
                mask_id_number(c.id_number),
                mask_mobile(c.mobile),
                c.gender_label,
                c.birth_date,
                c.institution.name if c.institution else "",
                c.branch.name if c.branch else "",
                str(c.manager) if c.manager else "",
            )
            for c in stmt.yield_per(1000)
        )
        data, count = csv_bytes(header, rows)
        audit_export(session, "customer", count)
        return Response(
            data,
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=customers.csv"},
        )

    def _on_identity_error(self, exc: IdentityError) -> None:
        flash(str(exc), "danger")


class CustomerApi(ScopedModelRestApi):
    """Read-only customer API for staff tools; values masked like the UI."""

    datamodel = SQLAInterface(Customer)
    resource_name = "customer"
    class_permission_name = RESOURCE_CUSTOMER
    include_route_methods = {"get", "get_list"}
    # shares the "Customer" resource with CustomerView, so it declares the same permission set
    # (FAB prunes a resource's permissions to the last registered view's base_permissions)
    base_permissions = ["can_read", "can_add", "can_edit", "can_delete", "can_unmask", "can_export"]
    list_columns = [
        "id",
        "name",
        "id_number_masked",
        "mobile_masked",
        "gender",
        "birth_date",
        "branch_id",
        "manager_id",
    ]
    show_columns = list_columns
    # id_number / mobile: "eq" with the complete value only, audited (views/list_guard.py)
    search_columns = ["name", "id_number", "mobile", "branch_id", "manager_id"]

    def pre_get(self, data) -> None:  # noqa: D401 - FAB hook
        if g.user is None:
            abort(401)
