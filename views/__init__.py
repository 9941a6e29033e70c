"""View registration: one function, called by create_app, with local imports."""

from __future__ import annotations


def register_views(appbuilder) -> None:
    from views.access.audit import AuditLogView
    from views.access.org import OrgUnitView
    from views.customers import CustomerApi, CustomerView
    from views.home import WorkbenchView
    from views.reports.dashboards import DashboardView

    appbuilder.add_view(
        WorkbenchView,
        "我的工作台",
        icon="fa-tasks",
        category="工作台",
        category_icon="fa-briefcase",
    )
    appbuilder.add_view(
        DashboardView,
        "经营看板",
        icon="fa-bar-chart",
        category="工作台",
        category_icon="fa-briefcase",
    )
    appbuilder.add_view(
        CustomerView,
        "客户列表",
        icon="fa-users",
        category="客户管理",
        category_icon="fa-address-book",
    )
    appbuilder.add_view(OrgUnitView, "机构网点", icon="fa-sitemap", category="Security")
    appbuilder.add_view(AuditLogView, "审计日志", icon="fa-history", category="Security")
    appbuilder.add_api(CustomerApi)
    _register_jobs(appbuilder)
    _register_whitelist(appbuilder)
    _register_applications(appbuilder)
    _register_approvals(appbuilder)
    _register_reports(appbuilder)


def _register_jobs(appbuilder) -> None:
    from views.background import JobMonitorView
    from views.sms.messages import SmsMessageView, SmsTemplateView

    category, icon = "作业与短信", "fa-cogs"
    appbuilder.add_view(
        JobMonitorView, "作业监控", icon="fa-heartbeat", category=category, category_icon=icon
    )
    appbuilder.add_view(SmsTemplateView, "短信模板", icon="fa-file-text-o", category=category)
    appbuilder.add_view(SmsMessageView, "短信记录", icon="fa-envelope-o", category=category)


def _register_whitelist(appbuilder) -> None:
    from views.sms.campaigns import CampaignRunView, CampaignView
    from views.whitelist.admin import BlacklistView, ProductView, WhitelistImportView
    from views.whitelist.offers import OfferSyncBatchView, OfferView

    category, icon = "白名单", "fa-list-alt"
    appbuilder.add_view(
        OfferView, "白名单额度", icon="fa-credit-card", category=category, category_icon=icon
    )
    appbuilder.add_view(WhitelistImportView, "白名单导入", icon="fa-upload", category=category)
    appbuilder.add_view(OfferSyncBatchView, "手机银行同步", icon="fa-mobile", category=category)
    appbuilder.add_view(CampaignView, "营销活动", icon="fa-bullhorn", category=category)
    appbuilder.add_view(CampaignRunView, "营销报表", icon="fa-bar-chart", category=category)
    appbuilder.add_view(ProductView, "产品管理", icon="fa-cube", category=category)
    appbuilder.add_view(BlacklistView, "黑名单", icon="fa-ban", category=category)


def _register_applications(appbuilder) -> None:
    from flask import current_app

    from views.channel.api import init_channel_api

    init_channel_api(current_app._get_current_object())
    from views.applications import ApplicationView
    from views.channel.admin import ApplicationSettingsView, ChannelKeyView

    appbuilder.add_view(
        ApplicationView,
        "申请列表",
        icon="fa-file-text",
        category="工作台",
        category_icon="fa-briefcase",
    )
    appbuilder.add_view(ChannelKeyView, "渠道密钥", icon="fa-key", category="Security")
    appbuilder.add_view(ApplicationSettingsView, "申请规则", icon="fa-sliders", category="Security")


def _register_reports(appbuilder) -> None:
    from views.reports.daily_reports import DailyReportView, MarketingTargetView

    category, icon = "报表", "fa-table"
    appbuilder.add_view(
        DailyReportView,
        "申请明细报表",
        icon="fa-file-excel-o",
        category=category,
        category_icon=icon,
    )
    appbuilder.add_view(MarketingTargetView, "营销目标", icon="fa-bullseye", category=category)


def _register_approvals(appbuilder) -> None:
    from flask import current_app

    from portal.approvals.home_panel import approval_home
    from views.approvals import ApprovalPolicyView, ApprovalQueueView
    from views.credit import BatchOpeningView, ContractView, CreditLineView

    current_app.jinja_env.globals["approval_home"] = approval_home  # home-page panel

    category, icon = "审批与额度", "fa-gavel"
    appbuilder.add_view(
        ApprovalQueueView,
        "审批工作台",
        icon="fa-check-square-o",
        category=category,
        category_icon=icon,
    )
    appbuilder.add_view(CreditLineView, "额度管理", icon="fa-credit-card", category=category)
    appbuilder.add_view(ContractView, "合同管理", icon="fa-file-text-o", category=category)
    appbuilder.add_view(BatchOpeningView, "批量开户", icon="fa-list-ol", category=category)
    appbuilder.add_view(ApprovalPolicyView, "审批策略", icon="fa-sitemap", category=category)
