"""白名单: products and blacklist admin, whitelist import (upload, progress, error report)."""

from __future__ import annotations

from pathlib import Path

from flask import Response, abort, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from models.whitelist import IMPORT_DONE_STATES, BlacklistEntry, Product, WhitelistImport
from portal.access import audit
from portal.access.permissions import (
    METHOD_PERMISSION_NAME,
    RESOURCE_BLACKLIST,
    RESOURCE_PRODUCT,
    RESOURCE_WHITELIST_IMPORT,
)
from portal.access.scoping import current_scope
from portal.core.extensions import db
from portal.core.form_validators import ResidentIdValidator
from portal.core.upload_safety import UnsafeFile
from portal.whitelist import importing as svc
from portal.whitelist import products
from portal.whitelist.progress import get_progress
from views.base import ScopedModelView, scoped

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _institutions():
    return scoped(["kind", FilterEqual, "institution"])


class ProductView(ScopedModelView):
    datamodel = SQLAInterface(Product)
    class_permission_name = RESOURCE_PRODUCT
    route_base = "/whitelist/products"
    list_title = show_title = "产品管理"
    add_title, edit_title = "新增产品", "修改产品"
    label_columns = {
        "code": "产品编号",
        "name": "产品名称",
        "institution": "法人机构",
        "limit_min": "最低额度（元）",
        "limit_max": "最高额度（元）",
        "rate_min": "最低年利率（%）",
        "rate_max": "最高年利率（%）",
        "term_months": "期限（月）",
        "validity_days": "额度有效天数",
        "active": "启用",
    }
    list_columns = [
        "code",
        "name",
        "institution",
        "limit_min",
        "limit_max",
        "rate_min",
        "rate_max",
        "validity_days",
        "active",
    ]
    show_columns = [*list_columns, "term_months"]
    add_columns = [
        "code",
        "name",
        "institution",
        "limit_min",
        "limit_max",
        "rate_min",
        "rate_max",
        "term_months",
        "validity_days",
        "active",
    ]
    edit_columns = [
        "name",
        "limit_min",
        "limit_max",
        "rate_min",
        "rate_max",
        "term_months",
        "validity_days",
        "active",
    ]
    search_columns = ["code", "name", "institution", "active"]
    add_form_query_rel_fields = {"institution": _institutions()}
    search_form_query_rel_fields = add_form_query_rel_fields

    def pre_add(self, item: Product) -> None:
        products.check(item, current_scope())

    def pre_update(self, item: Product) -> None:
        products.check(item, current_scope())


class BlacklistView(ScopedModelView):
    datamodel = SQLAInterface(BlacklistEntry)
    class_permission_name = RESOURCE_BLACKLIST
    route_base = "/whitelist/blacklist"
    list_title = show_title = "黑名单"
    add_title, edit_title = "新增黑名单", "修改黑名单"
    label_columns = {
        "id_number": "身份证号",
        "id_number_masked": "身份证号",
        "name": "姓名",
        "reason": "原因",
        "source": "来源",
        "institution": "法人机构",
        "created_at": "录入时间",
    }
    list_columns = ["id_number_masked", "name", "reason", "source", "institution", "created_at"]
    show_columns = list_columns
    add_columns = ["id_number", "name", "reason", "source", "institution"]
    edit_columns = ["name", "reason", "source"]
    search_columns = ["id_number", "name", "source", "institution"]
    validators_columns = {"id_number": [ResidentIdValidator()]}
    add_form_query_rel_fields = {"institution": _institutions()}
    search_form_query_rel_fields = add_form_query_rel_fields
    list_template = "portal/blacklist_list.html"
    method_permission_name = {**METHOD_PERMISSION_NAME, "upload": "add"}

    def pre_add(self, item: BlacklistEntry) -> None:
        products.check_blacklist_entry(db.session, item, current_scope())

    @expose("/upload/", methods=["POST"])
    @has_access
    def upload(self):
        file = request.files.get("file")
        if file is None or not file.filename:
            flash("请选择要导入的黑名单文件", "warning")
            return redirect(url_for(".list"))
        try:
            added, skipped = products.import_blacklist(db.session, g.user, file.stream)
        except (UnsafeFile, ValueError) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".list"))
        flash(f"已导入黑名单 {added} 条，跳过已存在 {skipped} 条", "success")
        return redirect(url_for(".list"))


class WhitelistImportView(ScopedModelView):
    """Import history; upload page, template, progress JSON, error report download."""

    datamodel = SQLAInterface(WhitelistImport)
    class_permission_name = RESOURCE_WHITELIST_IMPORT
    route_base = "/whitelist/imports"
    list_title = "白名单导入记录"
    show_title = "导入批次"
    base_permissions = ["can_read", "can_add"]
    include_route_methods = {"list", "show", "upload", "template", "progress", "report"}
    method_permission_name = {
        **METHOD_PERMISSION_NAME,
        "upload": "add",
        "template": "read",
        "progress": "read",
        "report": "read",
    }
    label_columns = {
        "id": "批次",
        "file_name": "文件名",
        "mode_label": "导入方式",
        "status_label": "状态",
        "status": "状态",
        "total_rows": "总行数",
        "valid_rows": "正确行",
        "error_rows": "错误行",
        "offers_created": "新增额度",
        "offers_changed": "变更额度",
        "offers_unchanged": "未变",
        "offers_revoked": "撤销",
        "customers_created": "新建客户",
        "uploaded_by": "上传人",
        "institution": "机构",
        "created_at": "上传时间",
        "finished_at": "完成时间",
        "seconds": "耗时（秒）",
        "message": "结果说明",
        "file_hash": "文件指纹（SHA-256）",
    }
    list_columns = [
        "id",
        "file_name",
        "mode_label",
        "status_label",
        "total_rows",
        "valid_rows",
        "error_rows",
        "offers_created",
        "offers_changed",
        "uploaded_by",
        "created_at",
    ]
    show_columns = [
        "id",
        "file_name",
        "mode_label",
        "status_label",
        "message",
        "total_rows",
        "valid_rows",
        "error_rows",
        "offers_created",
        "offers_changed",
        "offers_unchanged",
        "offers_revoked",
        "customers_created",
        "uploaded_by",
        "created_at",
        "finished_at",
        "seconds",
        "file_hash",
    ]
    search_columns = ["file_name", "status", "uploaded_by"]
    base_order = ("id", "desc")
    list_template = "portal/whitelist_import_list.html"
    show_template = "portal/whitelist_import_show.html"

    @expose("/upload/", methods=["GET", "POST"])
    @has_access
    def upload(self):
        if request.method == "GET":
            return self.render_template("portal/whitelist_upload.html", title="白名单导入")
        file = request.files.get("file")
        if file is None or not file.filename:
            flash("请选择要上传的白名单文件（.xlsx 或 .xls）", "warning")
            return redirect(url_for(".upload"))
        try:
            imp, message = svc.submit(
                db.session,
                g.user,
                file.stream,
                file.filename,
                request.form.get("mode", "all_or_nothing"),
                request.form.get("dry_run") == "1",
            )
        except (UnsafeFile, svc.ImportRejected) as exc:
            db.session.rollback()
            flash(f"文件未被接受：{exc}", "danger")
            return redirect(url_for(".upload"))
        flash(message, "info" if imp.status == "committed" else "success")
        return redirect(url_for(".show", pk=imp.id))

    @expose("/template/")
    @has_access
    def template(self):
        data = svc.template_for(db.session, current_scope())
        return Response(
            data,
            mimetype=XLSX,
            headers={"Content-Disposition": "attachment; filename=whitelist-template.xlsx"},
        )

    @expose("/progress/<int:pk>")
    @has_access
    def progress(self, pk: int):
        item = self._get_scoped_or_404(pk)
        data = get_progress(pk)
        data.update(status=item.status, status_label=item.status_label, message=item.message)
        data["report"] = bool(item.error_report)
        data["finished"] = item.status in (*IMPORT_DONE_STATES, "failed")
        db.session.rollback()
        return jsonify(data)

    @expose("/report/<int:pk>")
    @has_access
    def report(self, pk: int):
        item = self._get_scoped_or_404(pk)
        if not item.error_report or not Path(item.error_report).exists():
            abort(404)
        audit.record(db.session, "export", "whitelist_error_report", pk, {"rows": item.error_rows})
        db.session.commit()
        return send_file(
            item.error_report,
            mimetype=XLSX,
            as_attachment=True,
            download_name=f"whitelist-errors-{pk}.xlsx",
        )
