"""Base classes every portal view derives from: scoped by portal.access.scoping, permissions pinned,
list arguments checked and masked columns guarded (views/list_guard.py)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request
from flask_appbuilder import ModelView
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.baseviews import expose
from flask_appbuilder.models.sqla.filters import FilterEqual

from portal.access.permissions import METHOD_PERMISSION_NAME
from portal.access.scoping import SCOPE_BASE_FILTERS, ScopeFilter
from portal.core.text_input import clean_text
from views.list_guard import ListGuardMixin, RestListGuardMixin


def scoped(*extra: list) -> list:
    """Related-field filter list: the related model's rows in scope, plus extra conditions."""
    return [["id", ScopeFilter, lambda: None], *extra]


def branches_in_scope() -> list:
    return scoped(["kind", FilterEqual, "branch"])


class GuardedActionsMixin:
    """`action` / `action_post` that check before they load, and load through base_filters.

    Flask-AppBuilder's versions load rows with ``datamodel.get(pk)`` — no
    ``base_filters``, so no data scope — and crash (500) on an unknown action name.
    Here an unknown action or a missing permission is a 403 before anything is read,
    a GET is refused (405) only after that, and every row is loaded through the view's
    ``base_filters``: an id outside the scope is a 404 before any action runs.
    Used by every portal model view and by the Flask-AppBuilder security views.
    """

    def _get_scoped_or_404(self, pk: Any) -> Any:
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return item

    def _permitted_action(self, name: str):
        action = (self.actions or {}).get(name)
        if action is None or not self.appbuilder.sm.has_access(
            self.get_action_permission_name(name), self.class_permission_name
        ):
            abort(403)
        return action

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name: str, pk: Any):
        action = self._permitted_action(name)
        if request.method != "POST":
            abort(405)
        return action.func(self._get_scoped_or_404(pk))

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        action = self._permitted_action(request.form.get("action", ""))
        pks = request.form.getlist("rowid")
        if not pks:
            flash("请先勾选记录", "warning")
            return redirect(self.get_redirect())
        items = [self._get_scoped_or_404(pk) for pk in pks]
        return action.func(items)


class ScopedModelView(GuardedActionsMixin, ListGuardMixin, ModelView):
    """A ModelView whose every route — bulk actions included — sees only rows in scope
    (``SCOPE_BASE_FILTERS``; actions via :class:`GuardedActionsMixin`), with list arguments
    checked and masked columns searched by complete value only (:class:`ListGuardMixin`)."""

    base_filters = SCOPE_BASE_FILTERS
    method_permission_name = METHOD_PERMISSION_NAME
    page_size = 20
    # FAB's file download route serves the upload folder; no portal model stores files there
    exclude_route_methods = {"download"}


class ScopedModelRestApi(RestListGuardMixin, ModelRestApi):
    """REST API over a model, restricted to the caller's scope (list, get, put, delete), with
    ``q=`` checked and masked columns searched by complete value only (RestListGuardMixin)."""

    base_filters = SCOPE_BASE_FILTERS
    method_permission_name = METHOD_PERMISSION_NAME
    allow_browser_login = True

    def _handle_filters_args(self, rison_args: dict):
        """Each search value of `q` cleaned like a stored value (portal/core/text_input.py): the
        request hook cleaned the `q` text as a whole, not the values inside it."""
        for flt in rison_args.get("filters") or []:
            if isinstance(flt, dict) and isinstance(flt.get("value"), str):
                flt["value"] = clean_text(flt["value"])
        return super()._handle_filters_args(rison_args)
