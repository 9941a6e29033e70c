"""Dashboards (看板): one page per role, pyecharts charts drawn offline, in scope."""

from __future__ import annotations

import datetime as dt

from flask import abort, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from portal.access.permissions import METHOD_PERMISSION_NAME, RESOURCE_DASHBOARD
from portal.access.scoping import current_scope
from portal.core.extensions import db
from portal.core.list_args import record_id
from portal.reports import dashboard_data, dashboards, role_dashboards

TABS = {
    "branch": "网点看板",
    "org": "机构看板",
    "approver": "审批看板",
    "manager": "我的看板",
    "customers": "客户分布",
}


def _date(name: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return default


class DashboardView(BaseView):
    route_base = "/dashboard"
    default_view = "index"
    class_permission_name = RESOURCE_DASHBOARD
    method_permission_name = {**METHOD_PERMISSION_NAME, "index": "read", "show": "read"}

    @expose("/")
    @has_access
    def index(self):
        return redirect(
            url_for("DashboardView.show", kind=dashboards.default_kind(current_scope()))
        )

    @expose("/<kind>/")
    @has_access
    def show(self, kind: str):
        if kind not in TABS:
            abort(404)
        scope = current_scope()
        today = dt.date.today()
        end = _date("end", today)
        start = min(_date("start", end - dt.timedelta(days=29)), end)
        node = record_id(request.args.get("node"))
        narrowed = dashboard_data.narrow(db.session, scope, node)
        filters = dashboard_data.Filters(start, end, narrowed)
        if kind == "customers":
            title, specs = "客户分布", dashboards.overview(db.session, narrowed)
        else:
            title, specs = role_dashboards.build(db.session, kind, filters)
        return self.render_template(
            "portal/dashboard.html",
            scope=scope,
            narrowed=narrowed,
            title=title,
            kind=kind,
            tabs=dashboards.tabs_for(scope, TABS),
            charts=specs,
            filters=filters,
            node=node,
            nodes=dashboards.nodes_in_scope(db.session, scope),
        )
