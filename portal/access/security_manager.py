"""Security manager: the staff user model, Chinese login, throttling, lockout, revocable
sessions and tokens (portal.access.sessions), login audit."""

from __future__ import annotations

from flask import current_app, g
from flask_appbuilder.security.sqla.manager import SecurityManager

from models.access.staff import StaffUser
from portal.access import audit, login_guard, sessions
from views.access import fab_security_views as fab_security
from views.access.auth import PortalAuthDBView
from views.access.security_api import SecurityApi
from views.access.staff import StaffUserView


class PortalSecurityManager(SecurityManager):
    user_model = StaffUser
    userdbmodelview = StaffUserView
    authdbview = PortalAuthDBView
    userstatschartview = None
    # FAB's security views with guarded bulk actions and a scoped password reset
    rolemodelview = fab_security.RoleModelView
    groupmodelview = fab_security.UserGroupModelView
    permissionmodelview = fab_security.PermissionModelView
    viewmenumodelview = fab_security.ViewMenuModelView
    permissionviewmodelview = fab_security.PermissionViewModelView
    resetpasswordview = fab_security.ResetPasswordView
    # the JSON login API: short-lived access tokens tied to the session epoch, no refresh
    security_api = SecurityApi

    def _engine(self):
        return current_app.extensions["sqlalchemy"].engine

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        """One query per request for all of the roles' permissions, not one per menu item
        (FAB asks ~20 times while drawing the menu; the dashboards' p95 budget is 100 ms)."""
        from flask import has_request_context

        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        key = tuple(sorted(role_ids))
        cache = g.setdefault("_portal_role_perms", {})
        if key not in cache:
            cache[key] = _role_permissions(self.session, key)
        return (permission_name, view_name) in cache[key]

    def auth_user_db(self, username, password):
        """One gate for the browser form and the JSON login API (policy: portal.access.login_guard).

        A refused attempt sets ``g.login_error`` (Chinese) and ``g.login_retry_after``
        (seconds, 0 when only an admin can help)."""
        username = login_guard.clean_username(username)
        refusal = login_guard.throttled(username)
        known = None if refusal else self.find_user(username=username)
        refusal = refusal or login_guard.locked_for(known)
        if refusal is not None:
            return self._refuse(username, refusal)
        if known is not None and not known.active:
            g.login_error = "账户已停用，请联系管理员"
        user = super().auth_user_db(username, password)
        if user is not None:
            login_guard.clear(username)
            if user.locked_until is not None:  # an expired lock: tidy the admin's view
                user.locked_until = None
                self.update_user(user)
            return user
        login_guard.register_failure(username)
        audit.record_now(
            self._engine(),
            "login_failure",
            actor={
                "actor_name": login_guard.audit_username(username),
                "actor_id": known.id if known else None,
            },
        )
        if known is not None and known.active and login_guard.should_lock(known):
            until = login_guard.lock(known)
            self.update_user(known)  # ends the user's sessions (portal.access.sessions)
            g.login_error = login_guard.locked_for(known).message
            audit.record_now(
                self._engine(),
                "account_locked",
                target_type="user",
                target_id=known.id,
                detail={"until": until.isoformat(timespec="seconds")},
            )
        return None

    def _refuse(self, username: str, refusal: login_guard.Refusal) -> None:
        g.login_error = refusal.message
        g.login_retry_after = refusal.retry_after
        by_address = refusal.reason == "ip"  # a spray: one row per address, not per name
        audit.record_tally(
            self._engine(),
            "login_throttled",
            (refusal.reason, "" if by_address else username.lower(), login_guard.client_address()),
            actor={"actor_name": None if by_address else login_guard.audit_username(username)},
            detail={"reason": refusal.reason},
        )
        return None

    def load_user(self, pk):
        """The session's user — unless the session was revoked (portal.access.sessions)."""
        user = super().load_user(pk)
        if user is not None and not sessions.session_is_current(user):
            g.portal_revoked_session = audit.actor_of(user)
            return None
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        """The token's user — unless the token predates a revocation or the user is locked."""
        user = self.get_user_by_id(int(jwt_data["sub"]))
        if user is None or not user.is_active or not sessions.token_is_current(user, jwt_data):
            return None
        g.user = user
        return user

    def on_user_login(self, user) -> None:
        audit.record_now(self._engine(), "login_success", actor=audit.actor_of(user))

    def on_user_logout(self, user) -> None:
        sessions.revoke_all(self.session, user.id)  # every session and token of the user
        self.session.commit()
        audit.record_now(self._engine(), "logout", actor=audit.actor_of(user))


def _role_permissions(session, role_ids: tuple) -> set[tuple[str, str]]:
    from flask_appbuilder.security.sqla.models import (
        Permission,
        PermissionView,
        ViewMenu,
        assoc_permissionview_role,
    )
    from sqlalchemy import select

    rows = session.execute(
        select(Permission.name, ViewMenu.name)
        .select_from(PermissionView)
        .join(Permission, Permission.id == PermissionView.permission_id)
        .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)
        .join(
            assoc_permissionview_role,
            assoc_permissionview_role.c.permission_view_id == PermissionView.id,
        )
        .where(assoc_permissionview_role.c.role_id.in_(role_ids))
    ).all()
    return {(perm, view) for perm, view in rows}
