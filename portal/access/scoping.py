"""The one data-scope function: who may see which rows.

A user's scope comes from their roles' reach and their org node:

* a role with reach "node" sees everything under the user's node — the whole
  province at HQ, one bank at an institution, one branch at a branch;
* a role with reach "own" (account manager) sees records assigned to the user;
* the widest of the user's roles wins; no role with a reach sees nothing.

Models declare which columns carry the scope in ``__scope__``
(``{"institution": col, "branch": col, "owner": col}``). Every list, detail,
edit, delete, bulk action, related-field dropdown, search, export, REST API and
chart filters through :func:`scope_clause` — directly, via :func:`apply_scope`,
or via the Flask-AppBuilder filter :class:`ScopeFilter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from flask_appbuilder.models.filters import BaseFilter
from sqlalchemy import and_, false, true
from sqlalchemy.sql.elements import ColumnElement

from portal.access.permissions import REACH_NODE, REACH_OWN, ROLES

LEVEL_ALL = "all"
LEVEL_INSTITUTION = "institution"
LEVEL_BRANCH = "branch"
LEVEL_OWN = "own"
LEVEL_NONE = "none"

LEVEL_LABELS = {
    LEVEL_ALL: "全省",
    LEVEL_INSTITUTION: "本机构",
    LEVEL_BRANCH: "本网点",
    LEVEL_OWN: "本人",
    LEVEL_NONE: "无",
}


@dataclass(frozen=True)
class Scope:
    level: str
    user_id: int | None = None
    institution_id: int | None = None
    branch_id: int | None = None

    @property
    def label(self) -> str:
        return LEVEL_LABELS[self.level]


# Jobs run with an explicit system scope: they take ids, never the current user.
SYSTEM_SCOPE = Scope(LEVEL_ALL)
NO_SCOPE = Scope(LEVEL_NONE)


def _role_names(user: Any) -> set[str]:
    names = {r.name for r in getattr(user, "roles", []) or []}
    for group in getattr(user, "groups", []) or []:
        names.update(r.name for r in group.roles)
    return names


def scope_for(user: Any) -> Scope:
    """Compute the data scope of a staff user from roles and org node."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_SCOPE
    reaches = {ROLES.get(name, {}).get("reach") for name in _role_names(user)}
    node = getattr(user, "org_unit", None)
    if REACH_NODE in reaches and node is not None:
        if node.kind == "province":
            return Scope(LEVEL_ALL, user.id)
        if node.kind == "institution":
            return Scope(LEVEL_INSTITUTION, user.id, institution_id=node.id)
        return Scope(LEVEL_BRANCH, user.id, institution_id=node.institution_id, branch_id=node.id)
    if REACH_OWN in reaches or REACH_NODE in reaches:
        branch_id = node.id if node is not None and node.kind == "branch" else None
        inst_id = node.institution_id if node is not None else None
        return Scope(LEVEL_OWN, user.id, institution_id=inst_id, branch_id=branch_id)
    return NO_SCOPE


def current_scope() -> Scope:
    """The scope of the signed-in user (cached per request and user); no user → nothing."""
    if not has_request_context():
        raise RuntimeError("current_scope() outside a request: pass an explicit scope")
    user = getattr(g, "user", None)
    key = getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None
    cached = getattr(g, "_portal_scope", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    scope = scope_for(user)
    g._portal_scope = (key, scope)
    return scope


def _col(model: Any, level: str):
    spec = getattr(model, "__scope__", None) or {}
    name = spec.get(level)
    return getattr(model, name) if name else None


def scope_clause(model: Any, scope: Scope | None = None) -> ColumnElement[bool]:
    """SQL condition restricting `model` rows to `scope` (the current user's by default)."""
    scope = scope or current_scope()
    if scope.level == LEVEL_ALL:
        return true()
    if scope.level == LEVEL_NONE:
        return false()
    if scope.level == LEVEL_INSTITUTION:
        col = _col(model, "institution")
        return col == scope.institution_id if col is not None else false()
    if scope.level == LEVEL_BRANCH:
        col = _col(model, "branch")
        return col == scope.branch_id if col is not None else false()
    # own: rows owned by the user; models without an owner fall back to the user's branch
    owner = _col(model, "owner")
    if owner is not None:
        clause = owner == scope.user_id
        inst = _col(model, "institution")
        if inst is not None and scope.institution_id is not None:
            clause = and_(clause, inst == scope.institution_id)
        return clause
    branch = _col(model, "branch")
    if branch is not None and scope.branch_id is not None:
        return branch == scope.branch_id
    return false()


def apply_scope(stmt: Any, model: Any, scope: Scope | None = None) -> Any:
    """Add the scope condition to a Select or legacy Query."""
    clause = scope_clause(model, scope)
    if hasattr(stmt, "where"):
        return stmt.where(clause)
    return stmt.filter(clause)


def in_scope(obj: Any, scope: Scope | None = None) -> bool:
    """Whether one loaded object lies inside the scope (for non-query checks)."""
    scope = scope or current_scope()
    if scope.level == LEVEL_ALL:
        return True
    if scope.level == LEVEL_NONE or obj is None:
        return False
    model = type(obj)
    spec = getattr(model, "__scope__", None) or {}

    def val(level: str) -> Any:
        name = spec.get(level)
        return getattr(obj, name) if name else None

    if scope.level == LEVEL_INSTITUTION:
        return "institution" in spec and val("institution") == scope.institution_id
    if scope.level == LEVEL_BRANCH:
        return "branch" in spec and val("branch") == scope.branch_id
    if "owner" in spec:
        if val("owner") != scope.user_id:
            return False
        return not ("institution" in spec and scope.institution_id is not None) or (
            val("institution") == scope.institution_id
        )
    return "branch" in spec and scope.branch_id is not None and val("branch") == scope.branch_id


class ScopeFilter(BaseFilter):
    """Rows of the view's model inside the current user's data scope (see module doc)."""

    name = "数据范围"
    arg_name = "portal_scope"

    def apply(self, query: Any, value: Any) -> Any:
        return apply_scope(query, self.model)


# The base_filters entry every scoped FAB view and API uses.
SCOPE_BASE_FILTERS = [["id", ScopeFilter, lambda: None]]
