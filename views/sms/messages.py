"""短信模板 (admins) and 短信记录 (message log with masked mobiles)."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, ValidationError

from models.sms.messages import SMS_CATEGORIES, SmsMessage, SmsTemplate
from portal.access.permissions import RESOURCE_SMS_MESSAGE, RESOURCE_SMS_TEMPLATE
from portal.access.scoping import LEVEL_ALL, current_scope
from portal.sms.templates import VARIABLES, problems
from views.base import ScopedModelView


class TemplateBodyValid:
    """The body must parse in the sandbox and use only declared, known variables."""

    def __call__(self, form, field):
        found = problems(field.data or "", form.variables.data, form.category.data)
        if found:
            raise ValidationError("；".join(found))


_CATEGORY = SelectField("类别", choices=list(SMS_CATEGORIES.items()), validators=[DataRequired()])
_BODY = TextAreaField("模板内容", validators=[DataRequired(), TemplateBodyValid()])
_VARS_HELP = "可用变量（逗号分隔）：" + "，".join(f"{k}（{v[0]}）" for k, v in VARIABLES.items())


class SmsTemplateView(ScopedModelView):
    datamodel = SQLAInterface(SmsTemplate)
    class_permission_name = RESOURCE_SMS_TEMPLATE
    route_base = "/sms/templates"
    list_title = show_title = "短信模板"
    add_title, edit_title = "新增短信模板", "修改短信模板"
    label_columns = {
        "code": "模板编码",
        "name": "名称",
        "category": "类别",
        "category_label": "类别",
        "body": "模板内容",
        "variables": "变量",
        "active": "启用",
        "institution": "适用机构",
        "updated_at": "更新时间",
    }
    list_columns = ["code", "name", "category_label", "active", "institution", "updated_at"]
    show_columns = ["code", "name", "category_label", "body", "variables", "active", "institution"]
    add_columns = ["code", "name", "category", "body", "variables", "active"]
    edit_columns = ["name", "category", "body", "variables", "active"]
    search_columns = ["code", "name", "category"]
    add_form_extra_fields = edit_form_extra_fields = {"category": _CATEGORY, "body": _BODY}
    description_columns = {
        "variables": _VARS_HELP,
        "body": "Jinja 语法，如 {{ customer_name }}；营销类须含“回T退订”。",
    }

    def pre_add(self, item: SmsTemplate) -> None:
        scope = current_scope()
        if scope.level != LEVEL_ALL:
            item.institution_id = scope.institution_id


class SmsMessageView(ScopedModelView):
    datamodel = SQLAInterface(SmsMessage)
    class_permission_name = RESOURCE_SMS_MESSAGE
    route_base = "/sms/messages"
    include_route_methods = {"list", "show"}
    list_title = show_title = "短信记录"
    label_columns = {
        "created_at": "创建时间",
        "mobile_masked": "手机号",
        "template_code": "模板",
        "category_label": "类别",
        "state_label": "状态",
        "content": "内容",
        "sent_at": "提交时间",
        "delivered_at": "送达时间",
        "error": "错误",
        "state": "状态",
        "category": "类别",
    }
    list_columns = [
        "created_at",
        "mobile_masked",
        "template_code",
        "category_label",
        "state_label",
        "sent_at",
        "delivered_at",
    ]
    show_columns = [
        "created_at",
        "mobile_masked",
        "template_code",
        "category_label",
        "state_label",
        "content",
        "sent_at",
        "delivered_at",
        "error",
    ]
    search_columns = ["template_code", "state", "category"]
    base_order = ("id", "desc")
