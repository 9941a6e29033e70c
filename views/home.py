"""Home page per role (首页) and the account manager's to-do page (我的工作台)."""

from __future__ import annotations

from flask import g
from flask_appbuilder import BaseView, IndexView, expose
from flask_appbuilder.security.decorators import has_access

from portal.access.permissions import (
    METHOD_PERMISSION_NAME,
    RESOURCE_HOME,
    RESOURCE_WORKBENCH,
    ROLE_LABELS,
)
from portal.access.scoping import current_scope
from portal.reports import home_figures as home


def _session():
    from portal.core.extensions import db

    return db.session


class HomeView(IndexView):
    """The index: a signed-in user's home; anonymous users are sent to the login page."""

    route_base = ""
    default_view = "index"
    class_permission_name = RESOURCE_HOME
    method_permission_name = {**METHOD_PERMISSION_NAME, "index": "read"}
    index_template = "portal/home.html"

    @expose("/")
    @has_access
    def index(self):
        scope = current_scope()
        roles = sorted(r.name for r in g.user.roles)
        return self.render_template(
            self.index_template,
            appbuilder=self.appbuilder,
            scope=scope,
            roles=roles,
            role_labels=ROLE_LABELS,
            figures=home.home_figures(_session(), scope),
            workload=home.team_workload(_session(), scope)
            if scope.level in ("branch", "institution")
            else [],
        )


class WorkbenchView(BaseView):
    """我的工作台: the to-do list of applications in scope, counts per kind, SLA clocks."""

    route_base = "/workbench"
    default_view = "index"
    class_permission_name = RESOURCE_WORKBENCH
    method_permission_name = {**METHOD_PERMISSION_NAME, "index": "read"}

    @expose("/")
    @has_access
    def index(self):
        from flask import request

        from portal.applications import workbench

        scope = current_scope()
        kind = request.args.get("kind") or None
        sort = request.args.get("sort", "oldest")
        overdue = request.args.get("overdue") == "1"
        counts = workbench.counts(_session(), scope)
        todo_kinds = [(k, label, counts[k]) for k, (label, _s) in workbench.KINDS.items()]
        todo_kinds.append(("escalated", "已超时升级", counts["escalated"]))
        return self.render_template(
            "portal/workbench.html",
            scope=scope,
            todo_kinds=todo_kinds,
            kind=kind,
            sort=sort,
            overdue=overdue,
            sorts=workbench.SORTS,
            items=workbench.items(_session(), scope, kind, sort, overdue),
            clock=workbench.clock,
            customers=home.my_recent_customers(_session(), scope),
        )
