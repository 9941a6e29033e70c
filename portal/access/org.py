"""Org-tree services: keep each node's institution consistent and enforce who may create what."""

from __future__ import annotations

from models.access.org import KIND_BRANCH, KIND_INSTITUTION, KIND_PROVINCE, OrgUnit
from portal.access.scoping import LEVEL_ALL, Scope
from portal.core.identity import IdentityError

_PARENT_KIND = {KIND_INSTITUTION: KIND_PROVINCE, KIND_BRANCH: KIND_INSTITUTION}


def normalise_node(node: OrgUnit, scope: Scope) -> None:
    """Check the node's place in the tree and derive its institution."""
    if node.kind not in (KIND_PROVINCE, KIND_INSTITUTION, KIND_BRANCH):
        raise IdentityError("机构类型无效")
    if node.kind == KIND_PROVINCE:
        if scope.level != LEVEL_ALL:
            raise IdentityError("只有省联社管理员可以维护省联社节点")
        node.parent = None
        node.institution_id = None
        return
    if node.parent is None or node.parent.kind != _PARENT_KIND[node.kind]:
        raise IdentityError("法人机构的上级须为省联社，网点的上级须为法人机构")
    if node.kind == KIND_INSTITUTION:
        if scope.level != LEVEL_ALL:
            raise IdentityError("只有省联社管理员可以新增或调整法人机构")
        node.institution = node
        node.institution_id = node.id
    else:
        node.institution_id = node.parent.id
        node.institution = node.parent


def staff_institution(node: OrgUnit | None) -> int | None:
    if node is None:
        return None
    return node.id if node.kind == KIND_INSTITUTION else node.institution_id
