"""Server-side revocable sessions (会话撤销): one epoch per user ends every session and token.

Flask keeps the session in a signed cookie, so without this a copied cookie stays valid
until it times out. Every session and every JSON-API access token records the user's
``ab_user.session_epoch`` when it is issued. The user row is loaded on every request anyway
(Flask-Login's user loader, the JWT user lookup), so comparing the two costs no extra query,
and a change made by one web process is seen by all of them on their next request — the
database is the one shared, durable place (a Redis restart cannot bring a session back).

Raising the epoch ends every session and token of the user at once:

* on logout (``PortalSecurityManager.on_user_logout``);
* through a flush hook, whatever code path makes the change: a password set (own change,
  admin reset), a deactivation, a temporary lock, a change of the user's roles (from the
  user's or the role's side) or groups.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app, session
from flask_appbuilder.security.sqla.models import Role
from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session

from models.access.staff import StaffUser
from portal.access import login_guard

EPOCH_KEY = "_portal_epoch"  # in the Flask session
EPOCH_CLAIM = "sep"  # in the JWT access token


def bind(user: Any) -> None:
    """Tie the current (new) session to the user's epoch; called at login."""
    session[EPOCH_KEY] = user.session_epoch


def session_is_current(user: Any) -> bool:
    return session.get(EPOCH_KEY) == user.session_epoch and not is_locked(user)


def token_claims(user: Any) -> dict[str, Any]:
    return {EPOCH_CLAIM: user.session_epoch}


def token_is_current(user: Any, claims: dict[str, Any]) -> bool:
    return claims.get(EPOCH_CLAIM) == user.session_epoch and not is_locked(user)


def token_lifetime() -> dt.timedelta:
    """PORTAL_API_TOKEN_MINUTES, never longer than the idle or the absolute session limit
    (tokens are not refreshed, so a token's whole life lies within both)."""
    cfg = current_app.config
    return min(
        dt.timedelta(minutes=cfg["PORTAL_API_TOKEN_MINUTES"]),
        cfg["PERMANENT_SESSION_LIFETIME"],
        dt.timedelta(hours=cfg["PORTAL_SESSION_ABSOLUTE_HOURS"]),
    )


def is_locked(user: Any) -> bool:
    return login_guard.locked_for(user) is not None


def revoke_all(db_session: Session, user_id: int) -> None:
    """End every session and token of the user (in the caller's transaction)."""
    db_session.execute(
        update(StaffUser)
        .where(StaffUser.id == user_id)
        .values(session_epoch=StaffUser.session_epoch + 1)
    )


def _bump(user: Any) -> None:
    if isinstance(user, StaffUser):
        user.session_epoch = StaffUser.session_epoch + 1  # atomic in the UPDATE


def _changed(obj: Any, key: str) -> bool:
    return inspect(obj).attrs[key].history.has_changes()


def _ends_sessions(user: StaffUser) -> bool:
    if any(_changed(user, key) for key in ("password", "roles", "groups")):
        return True
    state = inspect(user)
    if False in state.attrs["active"].history.added:
        return True
    return any(v is not None for v in state.attrs["locked_until"].history.added)


def _on_flush(db_session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in list(db_session.dirty):
        if isinstance(obj, StaffUser) and _ends_sessions(obj):
            _bump(obj)
        elif isinstance(obj, Role):
            hist = inspect(obj).attrs["user"].history
            for user in (*hist.added, *hist.deleted):
                _bump(user)


def install(session_factory: Any) -> None:
    """Attach the flush hook to a session class/factory (idempotent)."""
    if not event.contains(session_factory, "before_flush", _on_flush):
        event.listen(session_factory, "before_flush", _on_flush)
