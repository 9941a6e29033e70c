"""HTTP security baseline: headers, session idle/absolute timeouts, revoked sessions
(portal.access.sessions) ended, no-store on personal data, refused out-of-scope requests audited."""

from __future__ import annotations

import secrets
import time

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_login import logout_user

_SESSION_START = "_portal_login_at"


def start_session_clock() -> None:
    """Mark the moment of login; the absolute timeout counts from here."""
    session.permanent = True
    session[_SESSION_START] = int(time.time())


def _check_session() -> object | None:
    user = getattr(g, "user", None)
    if user is None:
        return None
    if not getattr(user, "is_authenticated", False):
        revoked = g.pop("portal_revoked_session", None)  # set by the user loader
        if revoked is None:
            return None
        from portal.access import audit

        # a replayed cookie may be sent many times: one row per user and window
        audit.record_tally(_engine(), "session_revoked", (revoked["actor_id"],), actor=revoked)
        return _end_session("会话已失效（已退出登录、修改密码或账户变更），请重新登录")
    started = session.get(_SESSION_START)
    limit = current_app.config["PORTAL_SESSION_ABSOLUTE_HOURS"] * 3600
    if started is None or time.time() - started > limit:
        from portal.access import audit

        audit.record_now(_engine(), "session_expired", actor=audit.actor_of(user))
        return _end_session("会话已过期，请重新登录")
    return None


def _engine():
    return current_app.extensions["sqlalchemy"].engine


def _end_session(message: str):
    logout_user()
    session.clear()
    g.user = None
    if request.path.startswith("/api/"):
        return ({"message": message}, 401)
    flash(message, "warning")
    return redirect(url_for("PortalAuthDBView.login"))


def _headers(response):
    h = response.headers
    nonce = g.get("csp_nonce_value") or ""
    h.setdefault("Content-Security-Policy", current_app.config["PORTAL_CSP"].format(nonce=nonce))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    user = getattr(g, "user", None)
    if (
        user is not None
        and getattr(user, "is_authenticated", False)
        and not request.path.startswith("/static")
    ):
        # every signed-in page may show personal data: never cache it
        h["Cache-Control"] = "no-store"
        h["Pragma"] = "no-cache"
    return response


def _new_nonce() -> None:
    g.csp_nonce_value = secrets.token_urlsafe(16)


def csp_nonce() -> str:
    """Per-request nonce; Flask-AppBuilder's templates put it on every inline script."""
    if "csp_nonce_value" not in g:
        _new_nonce()
    return g.csp_nonce_value


def init_web_security(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.add_url_rule(
        "/favicon.ico",
        "favicon",
        lambda: app.send_static_file("favicon.ico"),
    )
    app.before_request(_new_nonce)
    # runs after FAB's before_request, which sets g.user
    app.before_request(_check_session)
    app.after_request(_headers)
    from portal.access.scope_audit import audit_refusal

    app.after_request(audit_refusal)
