"""Error pages and API errors in Chinese, with no internals shown."""

from __future__ import annotations

from flask import Flask, current_app, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

MESSAGES = {
    400: "请求无效，请检查后重试。",
    403: "您没有访问该页面或数据的权限。",
    404: "页面或记录不存在，或不在您的数据范围内。",
    405: "不支持该操作方式。",
    413: "上传内容过大。",
    415: "不支持的内容类型。",
    429: "操作过于频繁，请稍后再试。",
    500: "系统内部错误，已记录，请稍后重试或联系管理员。",
}


def _http_error(exc, code: int):
    """The channel API's paths answer in the API's own error shape and codes
    (portal/channel/errors.py); every other path gets the page or the staff API's JSON."""
    from portal.channel.errors import http_error, is_channel_path

    if is_channel_path(request.path):
        return http_error(exc)
    return _render(code)


def _render(code: int, message: str | None = None):
    message = message or MESSAGES.get(code, "请求失败")
    if request.path.startswith("/api/"):
        return {"code": code, "message": message}, code
    appbuilder = current_app.appbuilder
    if "user" not in g:  # the CSRF check runs before Flask-AppBuilder sets g.user
        g.user = current_user
    page = render_template(
        "portal/error.html",
        code=code,
        message=message,
        appbuilder=appbuilder,
        base_template=appbuilder.base_template,
    )
    return page, code


def _bad_filter(exc):
    """A search value the column cannot hold (e.g. text for an id): 400, not a 500."""
    from portal.core.extensions import db

    db.session.rollback()  # PostgreSQL aborted the transaction
    return _render(400, "查询条件无效，请检查筛选值后重试。")


def init_errors(app: Flask) -> None:
    from flask_appbuilder.exceptions import ApplyFilterException

    app.register_error_handler(ApplyFilterException, _bad_filter)
    for code in MESSAGES:
        app.register_error_handler(code, lambda exc, code=code: _http_error(exc, code))
    app.register_error_handler(
        CSRFError,
        lambda exc: _render(400, "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试。"),
    )
