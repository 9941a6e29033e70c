"""Login view: Chinese messages, throttling and lockout, safe redirects."""

from __future__ import annotations

from flask import flash, g, redirect, request
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_appbuilder.views import expose
from flask_login import login_user

from portal.access import sessions
from portal.access.http_security import start_session_clock


class PortalAuthDBView(AuthDBView):
    invalid_login_message = "用户名或密码错误"
    login_template = "portal/login.html"
    title = "登录"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if not user:
                flash(g.get("login_error") or self.invalid_login_message, "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            login_user(user, remember=False)
            start_session_clock()
            sessions.bind(user)  # revocable: logout, password, lock, roles end it
            return redirect(next_url)
        return self.render_template(
            self.login_template, title=self.title, form=form, appbuilder=self.appbuilder
        )
