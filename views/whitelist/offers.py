"""预授信额度: offers in scope with filters and history, staff revocation, sync batches."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from models.whitelist import Offer, OfferSyncBatch
from portal.access import audit
from portal.access.permissions import METHOD_PERMISSION_NAME, RESOURCE_OFFER, RESOURCE_OFFER_SYNC
from portal.core.extensions import db
from portal.whitelist import offers
from views.base import ScopedModelView, branches_in_scope, scoped


class OfferView(ScopedModelView):
    datamodel = SQLAInterface(Offer)
    class_permission_name = RESOURCE_OFFER
    route_base = "/whitelist/offers"
    list_title = "白名单（预授信额度）"
    show_title = "额度详情"
    base_permissions = ["can_read", "can_edit", "can_export"]
    include_route_methods = {"list", "show", "revoke"}
    method_permission_name = {**METHOD_PERMISSION_NAME, "revoke": "edit"}
    label_columns = {
        "id": "额度编号",
        "customer": "客户",
        "customer_label": "客户",
        "product": "产品",
        "branch": "网点",
        "institution": "法人机构",
        "manager": "客户经理",
        "limit_amount": "预授信额度（元）",
        "rate": "年利率（%）",
        "expiry_date": "有效期至",
        "status": "状态",
        "status_label": "状态",
        "version": "版本",
        "synced_version": "已同步版本",
        "applied_at": "申请时间",
        "created_at": "创建时间",
        "updated_at": "更新时间",
        "import_id": "导入批次",
    }
    list_columns = [
        "id",
        "customer_label",
        "product",
        "limit_amount",
        "rate",
        "expiry_date",
        "status_label",
        "branch",
        "manager",
        "updated_at",
    ]
    show_columns = [
        "id",
        "customer_label",
        "product",
        "institution",
        "branch",
        "manager",
        "limit_amount",
        "rate",
        "expiry_date",
        "status_label",
        "version",
        "synced_version",
        "applied_at",
        "import_id",
        "created_at",
        "updated_at",
    ]
    search_columns = ["status", "product", "branch", "manager", "expiry_date", "limit_amount"]
    search_form_query_rel_fields = {
        "branch": branches_in_scope(),
        "manager": scoped(),
        "product": scoped(),
    }
    order_columns = ["id", "limit_amount", "expiry_date", "updated_at"]
    base_order = ("id", "desc")
    show_template = "portal/offer_show.html"

    @expose("/revoke/<int:pk>", methods=["POST"])
    @has_access
    def revoke(self, pk: int):
        offer = self._get_scoped_or_404(pk)
        try:
            offers.revoke(db.session, offer, g.user.id, request.form.get("reason", ""))
        except offers.OfferError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return redirect(url_for(".show", pk=pk))
        audit.record(
            db.session, "offer_revoke", "offer", pk, {"reason": request.form.get("reason")}
        )
        db.session.commit()
        flash("额度已撤销，将同步至手机银行", "success")
        return redirect(url_for(".show", pk=pk))

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The detail page with the offer's history below it."""
        item = self._get_scoped_or_404(pk)
        widgets = self._get_show_widget(pk, item)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=widgets,
            related_views=[],
            history=offers.history(db.session, item.id),
            can_revoke=item.status in ("pending", "active")
            and self.appbuilder.sm.has_access("can_edit", RESOURCE_OFFER),
        )


class OfferSyncBatchView(ScopedModelView):
    datamodel = SQLAInterface(OfferSyncBatch)
    class_permission_name = RESOURCE_OFFER_SYNC
    route_base = "/whitelist/sync"
    base_permissions = ["can_read"]
    include_route_methods = {"list", "show"}
    base_filters = []  # sync batches are province-wide bookkeeping with no personal data
    list_title = show_title = "手机银行同步批次"
    label_columns = {
        "id": "批次",
        "offer_count": "额度数",
        "status_label": "状态",
        "status": "状态",
        "created_at": "创建时间",
        "done_at": "完成时间",
        "remote_batch": "手机银行批次号",
        "error": "错误",
    }
    list_columns = [
        "id",
        "offer_count",
        "status_label",
        "created_at",
        "done_at",
        "remote_batch",
        "error",
    ]
    show_columns = list_columns
    base_order = ("id", "desc")
