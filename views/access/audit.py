"""Audit log (审计日志): read-only list for auditors and HQ, scoped like every other list."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface

from models.access.audit import AuditLog
from portal.access.permissions import RESOURCE_AUDIT_LOG
from views.base import ScopedModelView


class AuditLogView(ScopedModelView):
    datamodel = SQLAInterface(AuditLog)
    class_permission_name = RESOURCE_AUDIT_LOG
    route_base = "/audit"
    list_title = "审计日志"
    show_title = "审计记录"
    base_permissions = ["can_read"]
    include_route_methods = {"list", "show"}
    label_columns = {
        "at": "时间",
        "event": "事件",
        "event_label": "事件",
        "actor_name": "操作人",
        "target_type": "对象类型",
        "target_id": "对象编号",
        "ip": "IP 地址",
        "detail": "详情",
        "detail_text": "详情",
        "target_label": "对象类型",
        "institution_id": "机构",
        "branch_id": "网点",
        "count": "次数",
        "last_at": "最近一次",
    }
    # an aggregated row (throttled logins, refused out-of-scope requests) counts many events
    list_columns = ["at", "event_label", "actor_name", "target_label", "target_id", "ip", "count"]
    show_columns = [
        "at",
        "count",
        "last_at",
        "event_label",
        "actor_name",
        "target_label",
        "target_id",
        "ip",
        "detail_text",
    ]
    search_columns = ["event", "actor_name", "target_type", "target_id", "at"]
    base_order = ("id", "desc")
