"""Admin pages for the channel API keys (渠道密钥) and per-institution application rules."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder.baseviews import expose
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.filters import FilterEqual
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from wtforms import SelectField
from wtforms.validators import DataRequired, NumberRange

from models.access.org import OrgUnit
from models.applications import ApplicationSettings, ChannelKey
from portal.access import audit
from portal.access.permissions import (
    METHOD_PERMISSION_NAME,
    RESOURCE_APPLICATION_SETTINGS,
    RESOURCE_CHANNEL_KEY,
)
from portal.access.scoping import current_scope, in_scope
from portal.applications.assignment import ASSIGN_RULES, _settings_cache
from portal.channel import keys as channel_keys
from portal.core.extensions import db
from views.base import ScopedModelView, scoped


class ChannelKeyView(ScopedModelView):
    """Issue (shown once), list and revoke channel API keys; rotate = issue new, revoke old."""

    datamodel = SQLAInterface(ChannelKey)
    class_permission_name = RESOURCE_CHANNEL_KEY
    route_base = "/channel-keys"
    method_permission_name = {**METHOD_PERMISSION_NAME, "issue": "add"}
    base_permissions = ["can_read", "can_add", "can_edit"]
    include_route_methods = {"list", "show", "issue", "revoke"}
    list_title = show_title = "渠道密钥"
    label_columns = {
        "channel": "渠道",
        "key_id": "接口密钥编号（X-Api-Key）",
        "institution": "限定法人机构",
        "active": "有效",
        "note": "备注",
        "created_at": "签发时间",
        "revoked_at": "停用时间",
    }
    list_columns = [
        "channel",
        "key_id",
        "institution",
        "active",
        "note",
        "created_at",
        "revoked_at",
    ]
    show_columns = list_columns
    # the encrypted secret is never a column of any form, filter or page
    search_columns = ["channel", "key_id", "active", "institution"]
    add_columns = edit_columns = ["note"]
    search_form_query_rel_fields = {"institution": scoped(["kind", FilterEqual, "institution"])}
    base_order = ("id", "desc")
    list_template = "portal/channel_key_list.html"
    show_template = "portal/channel_key_show.html"

    @expose("/list/")
    @has_access
    def list(self):
        widgets = self._list()
        institutions = db.session.query(OrgUnit).filter(OrgUnit.kind == "institution")
        institutions = [o for o in institutions.order_by(OrgUnit.code) if in_scope(o)]
        return self.render_template(
            self.list_template,
            title=self.list_title,
            widgets=widgets,
            channels=channel_keys.CHANNELS,
            institutions=institutions,
            whole_province=current_scope().level == "all",
        )

    @expose("/issue", methods=["POST"])
    @has_access
    def issue(self):
        channel = request.form.get("channel", "")
        inst = request.form.get("institution_id") or None
        scope = current_scope()
        inst_id = int(inst) if inst and inst.isdigit() else None
        if scope.level != "all":  # an institution admin issues keys for their own bank only
            inst_id = scope.institution_id
        if inst_id is not None and not in_scope(db.session.get(OrgUnit, inst_id)):
            abort(404)
        if channel not in channel_keys.CHANNELS:
            flash("请选择渠道", "danger")
            return redirect(url_for(".list"))
        key, secret = channel_keys.issue(db.session, channel, inst_id, request.form.get("note"))
        audit.record(db.session, "channel_key_issue", "channel_key", key.id, {"key_id": key.key_id})
        db.session.commit()
        return self.render_template(
            "portal/channel_key_issued.html", key=key, secret=secret, title="密钥已签发"
        )

    @expose("/revoke/<int:pk>", methods=["POST"])
    @has_access
    def revoke(self, pk: int):
        key = self._get_scoped_or_404(pk)
        if key.active:
            channel_keys.revoke(db.session, key)
            audit.record(
                db.session, "channel_key_revoke", "channel_key", key.id, {"key_id": key.key_id}
            )
            db.session.commit()
            flash("密钥已停用，立即生效", "success")
        return redirect(url_for(".show", pk=pk))


class ApplicationSettingsView(ScopedModelView):
    """Per-institution rules: assignment rule, SLA minutes, escalation and expiry times."""

    datamodel = SQLAInterface(ApplicationSettings)
    class_permission_name = RESOURCE_APPLICATION_SETTINGS
    route_base = "/application-settings"
    base_permissions = ["can_read", "can_add", "can_edit"]
    include_route_methods = {"list", "show", "add", "edit"}
    list_title = show_title = add_title = edit_title = "申请处理规则"
    label_columns = {
        "institution": "法人机构",
        "assign_rule": "分派规则",
        "sla_minutes": "处理时限（分钟）",
        "escalate_minutes": "超时升级（分钟）",
        "need_info_expire_hours": "补充资料超时失效（小时）",
    }
    list_columns = [
        "institution",
        "assign_rule",
        "sla_minutes",
        "escalate_minutes",
        "need_info_expire_hours",
    ]
    show_columns = add_columns = list_columns
    edit_columns = list_columns[1:]
    add_form_query_rel_fields = {"institution": scoped(["kind", FilterEqual, "institution"])}
    _rule = SelectField(
        "分派规则",
        choices=list(ASSIGN_RULES.items()),
        validators=[DataRequired()],
        widget=Select2Widget(),
    )
    add_form_extra_fields = edit_form_extra_fields = {"assign_rule": _rule}
    validators_columns = {
        "sla_minutes": [NumberRange(min=1, max=10080, message="须为 1–10080 分钟")],
        "escalate_minutes": [NumberRange(min=5, max=43200, message="须为 5–43200 分钟")],
        "need_info_expire_hours": [NumberRange(min=1, max=2160, message="须为 1–2160 小时")],
    }

    def post_add(self, item):
        _settings_cache.clear()

    def post_update(self, item):
        _settings_cache.clear()

    def pre_add(self, item):
        if not in_scope(item) or g.user is None:
            abort(403)
