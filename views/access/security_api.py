"""The JSON login API (``POST /api/v1/security/login``), held to the session rules.

Flask-AppBuilder's version issues, on request, a 30-day refresh token that no logout,
idle or absolute limit touches, and answers a throttled login with a bare 401. No client
of the portal needs refresh tokens (the channel API of mobile banking signs with its own
HMAC keys), so here:

* no refresh token is issued (``refresh: true`` is a 400) and ``/refresh`` does not exist;
* an access token lives ``portal.access.sessions.token_lifetime()`` — PORTAL_API_TOKEN_MINUTES,
  never longer than the idle or absolute session limit — and carries the user's session
  epoch, checked on every request (``PortalSecurityManager.load_user_jwt``): logout,
  a password change, a lock, a deactivation or a role change ends it like a session;
* a throttled or locked-out login is a 429 with ``Retry-After`` and the form's message.

The class keeps Flask-AppBuilder's name: the blueprint (and its CSRF exemption) use it.
"""

from __future__ import annotations

from flask import g, request
from flask_appbuilder.api import safe
from flask_appbuilder.const import API_SECURITY_PROVIDER_DB
from flask_appbuilder.security import api as fab
from flask_appbuilder.security.schemas import login_post
from flask_appbuilder.views import expose
from flask_jwt_extended import create_access_token
from marshmallow import ValidationError

from portal.access import sessions


class SecurityApi(fab.SecurityApi):
    exclude_route_methods = {"refresh"}

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        if not request.is_json:
            return self.response_400(message="请求体须为 JSON")
        try:
            payload = login_post.load(request.json)
        except ValidationError as error:
            return self.response_400(message=error.messages)
        if payload.get("refresh"):
            return self.response_400(
                message="不签发刷新令牌（refresh token），令牌到期后请重新登录"
            )
        if payload.get("provider", API_SECURITY_PROVIDER_DB) != API_SECURITY_PROVIDER_DB:
            return self.response_400(message="仅支持 provider = db")
        user = self.appbuilder.sm.auth_user_db(payload["username"], payload["password"])
        if not user:
            retry_after = g.get("login_retry_after")
            if retry_after:
                response = self.response(429, message=g.login_error)
                response.headers["Retry-After"] = str(retry_after)
                return response
            return self.response_401()
        lifetime = sessions.token_lifetime()
        token = create_access_token(
            identity=str(user.id),
            fresh=True,
            expires_delta=lifetime,
            additional_claims=sessions.token_claims(user),
        )
        return self.response(
            200,
            access_token=token,
            token_type="Bearer",
            expires_in=int(lifetime.total_seconds()),
        )
