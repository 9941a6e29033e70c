"""Org tree admin (机构网点管理): HQ manages everything, institution admins their own bank."""

from __future__ import annotations

from flask_appbuilder.models.sqla.filters import FilterInFunction
from flask_appbuilder.models.sqla.interface import SQLAInterface
from wtforms import SelectField
from wtforms.validators import DataRequired, Regexp

from models.access.org import KIND_LABELS, OrgUnit
from portal.access.org import normalise_node
from portal.access.permissions import RESOURCE_ORG_UNIT
from portal.access.scoping import current_scope
from views.base import ScopedModelView, scoped


def _parent_kinds() -> list[str]:
    return ["province", "institution"] if current_scope().level == "all" else ["institution"]


class OrgUnitView(ScopedModelView):
    datamodel = SQLAInterface(OrgUnit)
    class_permission_name = RESOURCE_ORG_UNIT
    route_base = "/org"
    list_title = "机构网点"
    show_title = "机构网点详情"
    add_title = "新增机构网点"
    edit_title = "修改机构网点"
    label_columns = {
        "code": "机构号",
        "name": "名称",
        "kind": "类型",
        "kind_label": "类型",
        "parent": "上级机构",
        "institution": "所属法人机构",
        "phone": "联系电话",
        "address": "地址",
        "active": "启用",
    }
    list_columns = ["code", "name", "kind_label", "parent", "phone", "active"]
    show_columns = [
        "code",
        "name",
        "kind_label",
        "parent",
        "institution",
        "phone",
        "address",
        "active",
    ]
    add_columns = ["code", "name", "kind", "parent", "phone", "address", "active"]
    edit_columns = ["name", "parent", "phone", "address", "active"]
    search_columns = ["code", "name", "kind", "parent", "active"]
    base_order = ("code", "asc")
    validators_columns = {
        "code": [Regexp(r"^[0-9A-Za-z]{2,20}$", message="机构号为 2–20 位字母或数字")]
    }
    add_form_extra_fields = {
        "kind": SelectField(
            "类型",
            choices=[(k, v) for k, v in KIND_LABELS.items()],
            validators=[DataRequired(message="请选择类型")],
        )
    }
    add_form_query_rel_fields = {"parent": scoped(["kind", FilterInFunction, _parent_kinds])}
    edit_form_query_rel_fields = add_form_query_rel_fields
    search_form_query_rel_fields = {"parent": scoped()}

    def pre_add(self, item: OrgUnit) -> None:
        normalise_node(item, current_scope())

    def pre_update(self, item: OrgUnit) -> None:
        normalise_node(item, current_scope())
