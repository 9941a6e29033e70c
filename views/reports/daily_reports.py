"""Reports (报表): the daily application-detail workbooks, and marketing targets (营销目标)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from flask import abort, g, send_file
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.reports import DailyReport, MarketingTarget
from portal.access import audit
from portal.access.permissions import METHOD_PERMISSION_NAME, RESOURCE_REPORT, RESOURCE_TARGET
from portal.access.scoping import current_scope, in_scope
from portal.core.extensions import db
from views.base import ScopedModelView, branches_in_scope, scoped

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class DailyReportView(ScopedModelView):
    datamodel = SQLAInterface(DailyReport)
    class_permission_name = RESOURCE_REPORT
    route_base = "/reports/daily"
    base_permissions = ["can_read"]
    include_route_methods = {"list", "show", "workbook"}
    method_permission_name = {**METHOD_PERMISSION_NAME, "workbook": "read"}
    list_title = show_title = "消费易申请明细报表"
    label_columns = {
        "business_date": "业务日期",
        "institution": "法人机构",
        "file_name": "文件",
        "rows": "申请笔数",
        "sha256": "文件校验值（SHA-256）",
        "generated_at": "生成时间",
        "download_link": "下载",
    }
    list_columns = ["business_date", "institution", "rows", "generated_at", "download_link"]
    show_columns = ["business_date", "institution", "file_name", "rows", "sha256", "generated_at"]
    base_order = ("business_date", "desc")
    search_columns = ["business_date", "institution"]

    @expose("/download/<int:pk>")
    @has_access
    def workbook(self, pk: int):
        report = db.session.get(DailyReport, pk)
        if report is None or not in_scope(report, current_scope()):
            abort(404)
        path = Path(report.stored_path)
        if not path.exists():
            abort(404)
        audit.record(
            db.session,
            "export",
            "daily_report",
            pk,
            {"rows": report.rows, "file": report.file_name},
        )
        db.session.commit()
        return send_file(path, as_attachment=True, download_name=report.file_name)


def check_target(item: MarketingTarget) -> None:
    """A target sits on a branch in the user's scope; a manager target on one of its staff."""
    if not item.month or not _MONTH.match(item.month):
        raise ValueError("月份格式为 YYYY-MM，如 2026-11")
    branch = item.branch or db.session.get(OrgUnit, item.branch_id or 0)
    if branch is None or branch.kind != "branch" or not in_scope(branch, current_scope()):
        raise ValueError("请选择本人管辖范围内的网点")
    item.institution_id = branch.institution_id
    manager = item.manager or (item.manager_id and db.session.get(StaffUser, item.manager_id))
    if manager and manager.org_unit_id != branch.id:
        raise ValueError("客户经理须属于所选网点")
    if (item.applications or 0) < 0 or (item.approved_amount or 0) < 0:
        raise ValueError("目标不能为负数")
    item.updated_at = dt.datetime.now()


class MarketingTargetView(ScopedModelView):
    datamodel = SQLAInterface(MarketingTarget)
    class_permission_name = RESOURCE_TARGET
    route_base = "/reports/targets"
    list_title = show_title = "营销目标"
    add_title, edit_title = "新增营销目标", "修改营销目标"
    label_columns = {
        "month": "月份",
        "institution": "法人机构",
        "branch": "网点",
        "manager": "客户经理（空=网点目标）",
        "level_label": "目标层级",
        "applications": "申请笔数目标",
        "approved_amount": "批准金额目标（元）",
        "updated_at": "更新时间",
    }
    list_columns = ["month", "branch", "level_label", "manager", "applications", "approved_amount"]
    show_columns = [*list_columns, "updated_at"]
    add_columns = ["month", "branch", "manager", "applications", "approved_amount"]
    edit_columns = ["applications", "approved_amount"]
    search_columns = ["month", "branch", "manager"]
    base_order = ("month", "desc")
    add_form_query_rel_fields = {"branch": branches_in_scope(), "manager": scoped()}
    description_columns = {"month": "YYYY-MM", "manager": "留空表示整个网点的月度目标"}

    def pre_add(self, item: MarketingTarget) -> None:
        check_target(item)

    def pre_update(self, item: MarketingTarget) -> None:
        check_target(item)

    def pre_delete(self, item: MarketingTarget) -> None:
        if not in_scope(item, current_scope()) or g.user is None:
            abort(404)
