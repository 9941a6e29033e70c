"""Applications (申请): list and page in scope; review actions, notes, contact attempts,
credit-bureau inquiry, unmask with a reason, reassignment. Rules live in portal/."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from models.applications import Application
from portal.access.permissions import METHOD_PERMISSION_NAME, RESOURCE_APPLICATION
from portal.applications import assignment, desk, lifecycle
from portal.core.extensions import db
from views.base import ScopedModelView, branches_in_scope, scoped

LABELS = {
    "app_no": "申请编号",
    "customer_label": "客户",
    "customer": "客户",
    "product": "产品",
    "amount": "申请金额（元）",
    "offer_limit": "预授信额度（元）",
    "rate": "年利率（%）",
    "state": "状态",
    "state_label": "状态",
    "manager": "客户经理",
    "branch": "网点",
    "institution": "法人机构",
    "channel": "渠道",
    "submitted_at": "提交时间",
    "assigned_at": "分派时间",
    "last_action_at": "最近处理时间",
    "escalated_at": "升级时间",
    "closed_at": "结束时间",
    "auth_ref": "征信授权书编号",
    "auth_version": "授权书版本",
    "auth_signed_at": "授权书签署时间",
    "contract_ref": "电子合同编号",
    "contract_hash": "合同摘要（SHA-256）",
    "reason_code": "拒绝原因",
    "version": "版本",
}


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


class ApplicationView(ScopedModelView):
    datamodel = SQLAInterface(Application)
    class_permission_name = RESOURCE_APPLICATION
    route_base = "/applications"
    method_permission_name = {
        **METHOD_PERMISSION_NAME,
        "act": "review",
        "note": "review",
        "inquiry": "review",
        "reassign_one": "reassign",
    }
    base_permissions = ["can_read", "can_review", "can_reassign", "can_unmask"]
    include_route_methods = {
        "list",
        "show",
        "act",
        "note",
        "inquiry",
        "unmask",
        "reassign_one",
        "reassign_all",
    }
    list_title = "申请列表"
    show_title = "申请详情"
    label_columns = LABELS
    list_columns = [
        "app_no",
        "customer_label",
        "product",
        "amount",
        "state_label",
        "manager",
        "branch",
        "submitted_at",
    ]
    show_columns = [
        "app_no",
        "customer_label",
        "product",
        "amount",
        "offer_limit",
        "rate",
        "state_label",
        "manager",
        "branch",
        "channel",
        "submitted_at",
        "assigned_at",
        "last_action_at",
        "escalated_at",
        "auth_ref",
        "auth_version",
        "auth_signed_at",
        "contract_ref",
        "contract_hash",
        "reason_code",
        "version",
    ]
    search_columns = ["app_no", "state", "branch", "manager", "submitted_at", "amount"]
    search_form_query_rel_fields = {"branch": branches_in_scope(), "manager": scoped()}
    order_columns = ["id", "amount", "submitted_at"]
    base_order = ("id", "desc")
    show_template = "portal/application_show.html"
    list_template = "portal/application_list.html"
    formatters_columns = {
        **{
            c: _when
            for c in (
                "submitted_at",
                "assigned_at",
                "last_action_at",
                "escalated_at",
                "closed_at",
                "auth_signed_at",
            )
        },
        "reason_code": lambda v: lifecycle.REJECT_REASONS.get(v, "") if v else "",
        "channel": lambda v: {"mbank": "手机银行"}.get(v, v),
    }

    @expose("/list/")
    @has_access
    def list(self):
        widgets = self._list()
        managers = []
        if self.appbuilder.sm.has_access("can_reassign", RESOURCE_APPLICATION):
            managers = desk.managers_in_scope(db.session)
        return self.render_template(
            self.list_template, title=self.list_title, widgets=widgets, managers=managers
        )

    def _page(self, item: Application, clear: dict | None = None):
        widgets = self._get_show_widget(item.id, item)
        sm = self.appbuilder.sm
        return self.render_template(
            self.show_template,
            pk=item.id,
            title=self.show_title,
            widgets=widgets,
            related_views=[],
            app=item,
            clear=clear,
            history=lifecycle.history(db.session, item.id),
            names=desk.staff_names(db.session, item.id),
            states=lifecycle.STATES,
            actions=lifecycle.ACTIONS,
            notes=desk.notes(db.session, item.id),
            inquiries=desk.inquiries(db.session, item.customer_id),
            buttons=desk.buttons(item, g.user)
            if sm.has_access("can_review", RESOURCE_APPLICATION)
            else [],
            outcomes=desk.CONTACT_OUTCOMES,
            reject_reasons=lifecycle.REJECT_REASONS,
            can_work=item.manager_id == g.user.id
            and item.state in lifecycle.OPEN_STATES
            and sm.has_access("can_review", RESOURCE_APPLICATION),
            can_unmask=sm.has_access("can_unmask", RESOURCE_APPLICATION),
            targets=desk.reassign_targets(db.session, item)
            if sm.has_access("can_reassign", RESOURCE_APPLICATION)
            else [],
        )

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        return self._page(self._get_scoped_or_404(pk))

    def _back(self, pk: int):
        return redirect(url_for(".show", pk=pk))

    @expose("/act/<int:pk>", methods=["POST"])
    @has_access
    def act(self, pk: int):
        item = self._get_scoped_or_404(pk)
        action = request.form.get("action", "")
        if action not in desk.BUTTONS:
            abort(400)
        code = request.form.get("reason_code") or None
        if code is not None and code not in lifecycle.REJECT_REASONS:
            abort(400)
        reason = request.form.get("reason", "")
        if action == "reject" and code and not reason.strip():
            reason = lifecycle.REJECT_REASONS[code]
        try:
            version = int(request.form.get("version", ""))
        except ValueError:
            abort(400)
        try:
            lifecycle.transition(
                item.id, action, lifecycle.staff_actor(g.user), reason, version, reason_code=code
            )
        except lifecycle.TransitionError as exc:
            flash(exc.message, "danger")
            return self._back(pk)
        flash(f"已{lifecycle.ACTIONS[action]}", "success")
        return self._back(pk)

    @expose("/note/<int:pk>", methods=["POST"])
    @has_access
    def note(self, pk: int):
        item = self._get_scoped_or_404(pk)
        if item.manager_id != g.user.id:
            abort(403)
        try:
            desk.add_note(
                db.session,
                item,
                g.user.id,
                request.form.get("kind", ""),
                request.form.get("body", ""),
                request.form.get("outcome"),
            )
        except desk.DeskError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(pk)
        flash("已保存", "success")
        return self._back(pk)

    @expose("/inquiry/<int:pk>", methods=["POST"])
    @has_access
    def inquiry(self, pk: int):
        item = self._get_scoped_or_404(pk)
        try:
            report = desk.inquire(db.session, item, g.user.id)
        except desk.DeskError as exc:
            flash(str(exc), "danger")
            return self._back(pk)
        flash(
            f"征信查询完成：报告编号 {report.get('report_no')}，评分 {report.get('score')}，"
            f"逾期账户 {report.get('overdue_accounts')} 个",
            "success",
        )
        return self._back(pk)

    @expose("/unmask/<int:pk>", methods=["POST"])
    @has_access
    def unmask(self, pk: int):
        item = self._get_scoped_or_404(pk)
        try:
            clear = desk.unmask(db.session, item, request.form.get("reason", ""))
        except desk.DeskError as exc:
            flash(str(exc), "danger")
            return self._back(pk)
        return self._page(item, clear)

    @expose("/reassign/<int:pk>", methods=["POST"])
    @has_access
    def reassign_one(self, pk: int):
        item = self._get_scoped_or_404(pk)
        try:
            target = int(request.form.get("manager_id", ""))
            assignment.reassign(
                db.session,
                item.id,
                target,
                lifecycle.staff_actor(g.user),
                request.form.get("reason", ""),
            )
        except ValueError as exc:  # AssignmentError is a ValueError
            db.session.rollback()
            flash(
                str(exc) if isinstance(exc, assignment.AssignmentError) else "请选择客户经理",
                "danger",
            )
            return self._back(pk)
        except lifecycle.TransitionError as exc:
            flash(exc.message, "danger")
            return self._back(pk)
        flash("已改派，新客户经理将收到短信通知", "success")
        return self._back(pk)

    @expose("/reassign_all", methods=["POST"])
    @has_access
    def reassign_all(self):
        """A manager leaves: move all their open applications (to one colleague or by load)."""
        from models.access.staff import StaffUser
        from portal.access.scoping import in_scope

        try:
            source = db.session.get(StaffUser, int(request.form.get("from_manager_id", "")))
            target = request.form.get("to_manager_id") or None
            target = int(target) if target else None
        except ValueError:
            abort(400)
        if source is None or not in_scope(source):
            abort(404)
        out = assignment.reassign_all(db.session, source.id, lifecycle.staff_actor(g.user), target)
        flash(
            f"批量改派完成：成功 {out['moved']} 笔，失败 {out['failed']} 笔",
            "success" if not out["failed"] else "warning",
        )
        return redirect(url_for(".list"))
