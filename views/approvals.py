"""Approval views: the approval queue (审批工作台) and the policy editor (审批策略).

Declarations and calls into portal.approval_*; every row is read through the scope.
"""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access
from sqlalchemy import select

from models.access.org import OrgUnit
from models.applications import Application
from models.approvals import MODES, PURPOSES, QUEUES, ApprovalPolicy
from models.whitelist import Product
from portal.access.permissions import (
    ACTION_APPROVE,
    METHOD_PERMISSION_NAME,
    RESOURCE_APPROVAL_POLICY,
    RESOURCE_APPROVAL_QUEUE,
)
from portal.access.scoping import apply_scope, current_scope
from portal.approvals import case_queue as approval_queue
from portal.approvals import decisions as approval_decision
from portal.approvals import policy as approval_policy
from portal.approvals.case_queue import QueueError
from portal.approvals.policy import PolicyError
from portal.core.list_args import record_id


def _db():
    from portal.core.extensions import db

    return db.session


def _minutes(since: dt.datetime) -> int:
    return int((dt.datetime.now() - since).total_seconds() // 60)


class ApprovalQueueView(BaseView):
    """审批工作台: the queue of the approver's node in scope, claim, decide; counts for managers."""

    route_base = "/approvals"
    default_view = "index"
    class_permission_name = RESOURCE_APPROVAL_QUEUE
    method_permission_name = {**METHOD_PERMISSION_NAME, "index": "read"}

    def _can_approve(self) -> bool:
        return self.appbuilder.sm.has_access(ACTION_APPROVE, RESOURCE_APPROVAL_QUEUE)

    @expose("/")
    @has_access
    def index(self):
        s, scope, user = _db(), current_scope(), g.user
        after = None
        after_id = record_id(request.args.get("after_id"))
        if request.args.get("after_at") and after_id is not None:
            try:
                after = (dt.datetime.fromisoformat(request.args["after_at"]), after_id)
            except ValueError:
                abort(400)
        mine = request.args.get("mine") == "1"
        rows = approval_queue.queue_page(s, user, scope, after, 20, mine=mine)
        branches = (
            dict(
                s.execute(
                    select(OrgUnit.id, OrgUnit.name).where(
                        OrgUnit.id.in_({r.branch_id for r in rows})
                    )
                ).all()
            )
            if rows
            else {}
        )
        return self.render_template(
            "portal/approval_queue.html",
            rows=rows,
            branches=branches,
            mine=mine,
            counts=approval_queue.counts(s, user, scope),
            levels=approval_queue.scope_counts(s, scope),
            queues=QUEUES,
            scope=scope,
            can_approve=self._can_approve(),
            minutes=_minutes,
            sla=approval_queue.SLA_MINUTES,
            limit=user.approval_limit,
            user_id=user.id,
        )

    @expose("/claim_next", methods=["POST"])
    @has_access
    def claim_next(self):
        case_id = approval_queue.claim_next(_db(), g.user, current_scope())
        if case_id is None:
            flash("队列中暂无可领取的审批", "info")
            return redirect(url_for(".index"))
        return redirect(url_for(".case", pk=case_id))

    @expose("/claim/<int:pk>", methods=["POST"])
    @has_access
    def claim(self, pk: int):
        try:
            approval_queue.claim(_db(), pk, g.user, current_scope())
        except QueueError as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".index"))
        return redirect(url_for(".case", pk=pk))

    @expose("/release/<int:pk>", methods=["POST"])
    @has_access
    def release(self, pk: int):
        try:
            approval_queue.release(_db(), pk, g.user)
            flash("已释放回队列", "success")
        except QueueError as exc:
            flash(exc.message, "danger")
        return redirect(url_for(".index"))

    @expose("/case/<int:pk>")
    @has_access
    def case(self, pk: int):
        from models.approvals import ApprovalCase

        s, scope = _db(), current_scope()
        item = s.scalar(
            apply_scope(select(ApprovalCase).where(ApprovalCase.id == pk), ApprovalCase, scope)
        )
        if item is None:
            abort(404)
        app = s.get(Application, item.subject_id) if item.subject == "application" else None
        product = s.get(Product, item.product_id)
        return self.render_template(
            "portal/approval_case.html",
            case=item,
            app=app,
            product=product,
            history=approval_queue.history(s, pk),
            holder=item.claimed_by == g.user.id,
            can_approve=self._can_approve(),
            steps=approval_policy.steps(item.policy, item.band_index),
            queues=QUEUES,
        )

    @expose("/approve/<int:pk>", methods=["POST"])
    @has_access
    def approve(self, pk: int):
        f = request.form
        try:
            outcome = approval_decision.approve(
                _db(),
                pk,
                g.user,
                current_scope(),
                f.get("amount", ""),
                f.get("rate", ""),
                f.get("reason") or None,
            )
        except QueueError as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".case", pk=pk))
        except Exception as exc:  # lifecycle refusals (separation of duties …)
            if not hasattr(exc, "message"):
                raise
            flash(exc.message, "danger")
            return redirect(url_for(".case", pk=pk))
        flash(
            {
                "approved": "审批通过，已发起出账",
                "next": "本级审批通过，已转下一级",
                "escalated": "超出您的审批权限，已上报上一级",
            }[outcome],
            "success",
        )
        return redirect(url_for(".index"))

    @expose("/reject/<int:pk>", methods=["POST"])
    @has_access
    def reject(self, pk: int):
        try:
            approval_decision.reject(
                _db(), pk, g.user, current_scope(), request.form.get("reason", "")
            )
        except QueueError as exc:
            flash(exc.message, "danger")
            return redirect(url_for(".case", pk=pk))
        flash("已拒绝，并短信通知客户", "success")
        return redirect(url_for(".index"))


class ApprovalPolicyView(BaseView):
    """审批策略: list in scope, new policy, edit (= a new version), versions of one code."""

    route_base = "/approval-policies"
    default_view = "list"
    class_permission_name = RESOURCE_APPROVAL_POLICY
    method_permission_name = METHOD_PERMISSION_NAME

    def _policies(self):
        return apply_scope(select(ApprovalPolicy), ApprovalPolicy, current_scope())

    @expose("/list/")
    @has_access
    def list(self):
        rows = (
            _db()
            .scalars(
                self._policies().where(ApprovalPolicy.active.is_(True)).order_by(ApprovalPolicy.id)
            )
            .all()
        )
        return self.render_template(
            "portal/approval_policy_list.html", rows=rows, fmt=approval_policy.format_bands
        )

    @expose("/show/<int:pk>")
    @has_access
    def show(self, pk: int):
        item = _db().scalar(self._policies().where(ApprovalPolicy.id == pk))
        if item is None:
            abort(404)
        versions = (
            _db()
            .scalars(
                self._policies()
                .where(ApprovalPolicy.code == item.code)
                .order_by(ApprovalPolicy.version.desc())
            )
            .all()
        )
        return self.render_template(
            "portal/approval_policy_show.html",
            item=item,
            versions=versions,
            fmt=approval_policy.format_bands,
            queues=QUEUES,
        )

    def _form(self, item=None, error=None, values=None):
        s, scope = _db(), current_scope()
        insts = s.scalars(
            apply_scope(select(OrgUnit).where(OrgUnit.kind == "institution"), OrgUnit, scope)
        ).all()
        products = s.scalars(
            apply_scope(select(Product).where(Product.active.is_(True)), Product, scope)
        ).all()
        values = values or (
            {
                "name": item.name,
                "bands": approval_policy.format_bands(item.bands),
                "institution_id": str(item.institution_id or ""),
                "product_id": str(item.product_id or ""),
                "purpose": item.purpose,
                "disbursement": item.disbursement,
            }
            if item
            else {"purpose": "application", "disbursement": "auto"}
        )
        return self.render_template(
            "portal/approval_policy_form.html",
            item=item,
            error=error,
            v=values,
            insts=insts,
            products=products,
            purposes=PURPOSES,
            modes=MODES,
            hq=scope.level == "all",
        ), 400 if error else 200

    def _save(self, previous=None):
        f, scope = request.form, current_scope()
        values = {
            k: f.get(k, "")
            for k in ("name", "bands", "institution_id", "product_id", "purpose", "disbursement")
        }
        inst = int(values["institution_id"]) if values["institution_id"].isdigit() else None
        if scope.level != "all":
            inst = scope.institution_id  # an institution admin edits their own bank's only
        prod = int(values["product_id"]) if values["product_id"].isdigit() else None
        if (
            prod is not None
            and _db().scalar(
                apply_scope(select(Product.id).where(Product.id == prod), Product, scope)
            )
            is None
        ):
            return self._form(previous, "产品不存在", values)
        try:
            saved = approval_policy.save(
                _db(),
                name=values["name"],
                bands_text=values["bands"],
                institution_id=inst,
                product_id=prod,
                purpose=values["purpose"],
                disbursement=values["disbursement"],
                actor_id=g.user.id,
                previous=previous,
            )
            _db().commit()
        except PolicyError as exc:
            _db().rollback()
            return self._form(previous, str(exc), values)
        flash(f"已保存：{saved.name}（第 {saved.version} 版）", "success")
        return redirect(url_for(".show", pk=saved.id))

    @expose("/new/", methods=["GET", "POST"])
    @has_access
    def new(self):
        return self._save() if request.method == "POST" else self._form()

    @expose("/change/<int:pk>", methods=["GET", "POST"])
    @has_access
    def change(self, pk: int):
        item = _db().scalar(self._policies().where(ApprovalPolicy.id == pk))
        if item is None or not item.active or item.code == approval_policy.DEFAULT_CODE:
            abort(404)
        return self._save(item) if request.method == "POST" else self._form(item)
