"""Flask-AppBuilder's own security views, hardened the portal's way.

The class names stay FAB's (endpoints and permission names are derived from them):

* the model views get :class:`views.base.GuardedActionsMixin` — an unknown bulk action
  or a missing permission is a 403 (FAB crashes with a 500, even for anonymous), and
  rows are loaded through ``base_filters``; the upload-folder ``download`` route is off;
* and :class:`views.list_guard.ListGuardMixin` — bad page, page size, sort and filter
  arguments are dropped with a message instead of a 500, the page size is capped;
* the admin password reset (``/resetpassword/form?pk=``) only reaches users inside the
  caller's data scope: FAB takes the user id from the query string unchecked, so an
  institution admin could otherwise reset the HQ admin's or another bank's passwords.
"""

from __future__ import annotations

from flask import abort, request
from flask_appbuilder.security import views as fab
from flask_babel import lazy_gettext

from portal.access.scoping import in_scope
from views.base import GuardedActionsMixin
from views.list_guard import ListGuardMixin

_NO_DOWNLOAD = {"download"}


class RoleModelView(GuardedActionsMixin, ListGuardMixin, fab.RoleModelView):
    exclude_route_methods = _NO_DOWNLOAD
    # columns FAB leaves unlabelled (its prettified English would show); catalog: translations/
    label_columns = {
        **fab.RoleModelView.label_columns,
        "user": lazy_gettext("Users"),
        "groups": lazy_gettext("Groups"),
    }


class UserGroupModelView(GuardedActionsMixin, ListGuardMixin, fab.UserGroupModelView):
    exclude_route_methods = _NO_DOWNLOAD
    label_columns = {
        "name": lazy_gettext("Name"),
        "label": lazy_gettext("Label"),
        "description": lazy_gettext("Description"),
        "users": lazy_gettext("Users"),
        "roles": lazy_gettext("Roles"),
    }


class PermissionModelView(GuardedActionsMixin, ListGuardMixin, fab.PermissionModelView):
    exclude_route_methods = _NO_DOWNLOAD


class ViewMenuModelView(GuardedActionsMixin, ListGuardMixin, fab.ViewMenuModelView):
    exclude_route_methods = _NO_DOWNLOAD


class PermissionViewModelView(GuardedActionsMixin, ListGuardMixin, fab.PermissionViewModelView):
    exclude_route_methods = _NO_DOWNLOAD
    label_columns = {**fab.PermissionViewModelView.label_columns, "role": lazy_gettext("Role")}


class ResetPasswordView(fab.ResetPasswordView):
    """Reset another user's password — only a user inside the caller's scope (else 404)."""

    def _target_in_scope(self) -> None:
        pk = request.args.get("pk", "")
        user = self.appbuilder.sm.get_user_by_id(int(pk)) if pk.isdigit() else None
        if user is None or not in_scope(user):
            abort(404)

    def form_get(self, form) -> None:
        self._target_in_scope()
        super().form_get(form)

    def form_post(self, form) -> None:
        self._target_in_scope()
        super().form_post(form)
