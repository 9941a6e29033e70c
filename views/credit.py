"""Credit lines (额度), contracts (合同管理) and batch account opening (批量开户) views.

Lists are scoped model views; each page's actions post to a route that loads the row
through the view's base_filters (the scope) and calls a portal service.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from models.credit import LINE_STATES, BatchOpening, Contract, CreditLine
from portal.access.permissions import (
    ACTION_EDIT,
    RESOURCE_BATCH_OPENING,
    RESOURCE_CONTRACT,
    RESOURCE_CREDIT_LINE,
)
from portal.access.scoping import current_scope
from portal.applications import lifecycle
from portal.core.extensions import db
from portal.credit import account_opening as batch_opening
from portal.credit import contracts, disbursement, limit_adjust
from portal.credit import lines as credit_lines
from views.base import ScopedModelView, branches_in_scope


def _money(v) -> str:
    return f"{v:,.2f}" if v is not None else ""


class _ReadOnly(ScopedModelView):
    exclude_route_methods = {
        "download",
        "add",
        "edit",
        "delete",
        "api_column_add",
        "api_column_edit",
        "api_readvalues",
        "action",
        "action_post",
    }

    def _can_edit(self) -> bool:
        return self.appbuilder.sm.has_access(ACTION_EDIT, self.class_permission_name)


class CreditLineView(_ReadOnly):
    """额度: limit, used, available, expiry, status; freeze/unfreeze/close; limit change."""

    route_base = "/credit-lines"
    datamodel = SQLAInterface(CreditLine)
    class_permission_name = RESOURCE_CREDIT_LINE
    list_title = show_title = "额度管理"
    label_columns = {
        "line_no": "额度编号",
        "customer_label": "客户",
        "product": "产品",
        "branch": "网点",
        "limit_amount": "授信额度",
        "used_amount": "已用",
        "available_amount": "可用",
        "rate": "年利率(%)",
        "expiry_date": "到期日",
        "status_label": "状态",
        "status": "状态",
        "core_ref": "核心额度号",
        "card_link_ref": "卡贷关联号",
        "opened_at": "开通时间",
        "pending_label": "待生效调整",
    }
    list_columns = [
        "line_no",
        "customer_label",
        "product",
        "branch",
        "limit_amount",
        "available_amount",
        "expiry_date",
        "status_label",
        "pending_label",
    ]
    show_template = "portal/credit_line_show.html"
    show_columns = list_columns
    search_columns = ["line_no", "status", "branch", "expiry_date"]
    search_form_query_rel_fields = {"branch": branches_in_scope()}
    base_order = ("id", "desc")
    formatters_columns = {"limit_amount": _money, "available_amount": _money}

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        line = self._get_scoped_or_404(pk)
        return self.render_template(
            self.show_template,
            line=line,
            history=credit_lines.history(db.session, line.id),
            adjust_dead=limit_adjust.dead_item(db.session, line.id),
            can_edit=self._can_edit(),
            states=LINE_STATES,
            moves=credit_lines.MOVES,
            title=self.show_title,
        )

    @expose("/line_status/<int:pk>", methods=["POST"])
    @has_access
    def line_status(self, pk: int):
        line = self._get_scoped_or_404(pk)
        action = request.form.get("action", "")
        if action not in credit_lines.MOVES:
            flash("无效的操作", "danger")
        else:
            try:
                credit_lines.change_status(
                    db.session, line, action, g.user.id, request.form.get("reason", "")
                )
                flash(f"已{credit_lines.MOVES[action][2]}", "success")
            except credit_lines.LineError as exc:
                flash(exc.message, "danger")
        return redirect(url_for(".show", pk=pk))

    @expose("/adjust/<int:pk>", methods=["POST"])
    @has_access
    def adjust(self, pk: int):
        line = self._get_scoped_or_404(pk)
        try:
            credit_lines.request_adjustment(
                db.session,
                line,
                request.form.get("limit", ""),
                g.user.id,
                request.form.get("reason", ""),
            )
            flash("额度调整已提交审批", "success")
        except credit_lines.LineError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        return redirect(url_for(".show", pk=pk))

    @expose("/retry_adjustment/<int:pk>", methods=["POST"])
    @has_access
    def retry_adjustment(self, pk: int):
        line = self._get_scoped_or_404(pk)
        if limit_adjust.retry(db.session, line, g.user.id):
            flash("已重新提交核心系统额度调整", "success")
        else:
            flash("该额度没有失败待重试的额度调整", "warning")
        return redirect(url_for(".show", pk=pk))

    @expose("/retry_disbursement/<int:pk>", methods=["POST"])
    @has_access
    def retry_disbursement(self, pk: int):
        line = self._get_scoped_or_404(pk)
        try:
            disbursement.retry(db.session, line.application_id, lifecycle.staff_actor(g.user))
            flash("已重新发起出账", "success")
        except lifecycle.TransitionError as exc:
            flash(exc.message, "danger")
        return redirect(url_for(".show", pk=pk))


class ContractView(_ReadOnly):
    """合同管理: contracts in scope, detail, termination (解约) through core banking."""

    route_base = "/contracts"
    datamodel = SQLAInterface(Contract)
    class_permission_name = RESOURCE_CONTRACT
    list_title = show_title = "合同管理"
    label_columns = {
        "contract_no": "合同编号",
        "customer_label": "客户",
        "branch": "网点",
        "amount": "金额",
        "status_label": "状态",
        "status": "状态",
        "signed_at": "签约时间",
        "terminated_at": "解约时间",
        "credit_line": "额度",
        "core_ref": "核心合同号",
        "terminate_reason": "解约原因",
    }
    list_columns = [
        "contract_no",
        "customer_label",
        "branch",
        "amount",
        "signed_at",
        "status_label",
    ]
    show_template = "portal/contract_show.html"
    show_columns = list_columns
    search_columns = ["contract_no", "status", "branch", "signed_at"]
    search_form_query_rel_fields = {"branch": branches_in_scope()}
    base_order = ("id", "desc")
    formatters_columns = {"amount": _money}

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        item = self._get_scoped_or_404(pk)
        return self.render_template(
            self.show_template, item=item, can_edit=self._can_edit(), title=self.show_title
        )

    @expose("/terminate/<int:pk>", methods=["POST"])
    @has_access
    def terminate(self, pk: int):
        item = self._get_scoped_or_404(pk)
        try:
            contracts.terminate(db.session, item, g.user.id, request.form.get("reason", ""))
            flash("解约已提交核心系统", "success")
        except contracts.ContractError as exc:
            flash(exc.message, "danger")
        return redirect(url_for(".show", pk=pk))


class BatchOpeningView(_ReadOnly):
    """批量开户: batches in scope with per-item results; start a batch; retry failed items."""

    route_base = "/batch-openings"
    datamodel = SQLAInterface(BatchOpening)
    class_permission_name = RESOURCE_BATCH_OPENING
    list_title = show_title = "批量开户"
    label_columns = {
        "id": "批次",
        "institution": "机构",
        "created_at": "创建时间",
        "status": "状态",
        "total": "笔数",
        "succeeded": "成功",
        "failed": "失败",
        "finished_at": "完成时间",
    }
    list_columns = ["id", "institution", "created_at", "status", "total", "succeeded", "failed"]
    show_columns = list_columns
    search_columns = ["status", "created_at"]
    show_template = "portal/batch_opening_show.html"
    list_template = "portal/batch_opening_list.html"
    base_order = ("id", "desc")
    formatters_columns = {
        "status": lambda v: {"queued": "排队中", "running": "处理中", "done": "已完成"}.get(v, v)
    }

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        item = self._get_scoped_or_404(pk)
        return self.render_template(
            self.show_template,
            item=item,
            rows=batch_opening.items(db.session, item.id),
            can_edit=self._can_edit(),
            title=self.show_title,
        )

    @expose("/start", methods=["POST"])
    @has_access
    def start(self):
        if request.form.get("confirm") != "1":
            flash("请在批量开户页面确认后提交", "warning")
            return redirect(url_for(".list"))
        try:
            batch = batch_opening.start(db.session, g.user, current_scope())
        except batch_opening.BatchError as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".list"))
        flash(f"已创建批次 #{batch.id}（{batch.total} 笔），后台处理中", "success")
        return redirect(url_for(".show", pk=batch.id))

    @expose("/retry_failed/<int:pk>", methods=["POST"])
    @has_access
    def retry_failed(self, pk: int):
        item = self._get_scoped_or_404(pk)
        try:
            n = batch_opening.retry_failed(db.session, item, g.user)
            flash(f"已重新提交 {n} 笔失败明细", "success")
        except batch_opening.BatchError as exc:
            flash(exc.message, "danger")
        return redirect(url_for(".show", pk=pk))
