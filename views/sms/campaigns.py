"""精准营销: campaign admin (data marketing) and the per-run report."""

from __future__ import annotations

import re

from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access

from models.sms.campaigns import Campaign, CampaignRun
from portal.access.permissions import RESOURCE_CAMPAIGN
from portal.access.scoping import LEVEL_ALL, current_scope
from portal.core.extensions import db
from portal.sms import campaigns
from views.base import ScopedModelView, scoped

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def check_campaign(item: Campaign) -> None:
    scope = current_scope()
    if scope.level != LEVEL_ALL:
        item.institution_id = scope.institution_id
    if not item.institution_id and item.institution is None:
        raise ValueError("请选择法人机构")
    for day in (item.snapshot_day, item.send_day):
        if not day or not 1 <= day <= 28:
            raise ValueError("日期须在每月 1–28 日之间")
    for t in (item.snapshot_time, item.send_time):
        if not t or not _TIME.match(t):
            raise ValueError("时间格式为 HH:MM，如 12:00")
    if (item.send_day, item.send_time) <= (item.snapshot_day, item.snapshot_time):
        raise ValueError("发送时间须晚于锁定名单时间")
    if not item.applied_window_days or not 1 <= item.applied_window_days <= 90:
        raise ValueError("转化统计天数须在 1–90 之间")


class CampaignView(ScopedModelView):
    datamodel = SQLAInterface(Campaign)
    class_permission_name = RESOURCE_CAMPAIGN
    route_base = "/whitelist/campaigns"
    list_title = show_title = "营销活动"
    add_title, edit_title = "新增营销活动", "修改营销活动"
    label_columns = {
        "name": "活动名称",
        "institution": "法人机构",
        "product": "产品（空=全部）",
        "template_code": "短信模板编码",
        "snapshot_day": "锁定名单日（每月）",
        "snapshot_time": "锁定名单时间",
        "send_day": "发送日（每月）",
        "send_time": "发送时间",
        "applied_window_days": "转化统计天数",
        "active": "启用",
        "schedule_label": "执行计划",
        "created_at": "创建时间",
    }
    list_columns = ["name", "institution", "product", "template_code", "schedule_label", "active"]
    show_columns = [
        "name",
        "institution",
        "product",
        "template_code",
        "schedule_label",
        "applied_window_days",
        "active",
    ]
    add_columns = [
        "name",
        "institution",
        "product",
        "template_code",
        "snapshot_day",
        "snapshot_time",
        "send_day",
        "send_time",
        "applied_window_days",
        "active",
    ]
    edit_columns = [
        "name",
        "product",
        "template_code",
        "snapshot_day",
        "snapshot_time",
        "send_day",
        "send_time",
        "applied_window_days",
        "active",
    ]
    add_form_query_rel_fields = {"institution": scoped(), "product": scoped()}
    edit_form_query_rel_fields = add_form_query_rel_fields
    description_columns = {
        "template_code": "营销类短信模板，默认 offer_marketing；退订客户与免打扰时段自动处理",
        "snapshot_time": "HH:MM，默认 23:00（日终）",
    }

    def pre_add(self, item: Campaign) -> None:
        check_campaign(item)

    def pre_update(self, item: Campaign) -> None:
        check_campaign(item)


class CampaignRunView(ScopedModelView):
    datamodel = SQLAInterface(CampaignRun)
    class_permission_name = RESOURCE_CAMPAIGN
    route_base = "/whitelist/campaign-runs"
    base_permissions = ["can_read", "can_add", "can_edit", "can_delete"]
    include_route_methods = {"list", "show"}
    list_title = show_title = "营销报表"
    label_columns = {
        "campaign": "活动",
        "period": "月份",
        "status_label": "状态",
        "status": "状态",
        "institution_id": "法人机构",
        "audience": "目标客户数",
        "queued": "已排队短信",
        "suppressed": "退订未发",
        "snapshot_at": "锁定名单时间",
        "sent_at": "发送时间",
    }
    list_columns = [
        "campaign",
        "period",
        "status_label",
        "audience",
        "queued",
        "suppressed",
        "snapshot_at",
        "sent_at",
    ]
    show_columns = list_columns
    base_order = ("id", "desc")
    show_template = "portal/campaign_run_show.html"

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        item = self._get_scoped_or_404(pk)
        return self.render_template(
            self.show_template,
            pk=pk,
            title=self.show_title,
            widgets=self._get_show_widget(pk, item),
            related_views=[],
            report=campaigns.report(db.session, item),
            window=item.campaign.applied_window_days,
        )
