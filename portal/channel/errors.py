"""The channel API's error answers: ``{"code": STABLE_CODE, "message": 中文}``, for every error.

The same shape and codes whether a refusal comes from the API's own checks
(:class:`portal.channel.request_bodies.ChannelError`, signature errors) or from the HTTP layer below it —
an unknown path, a method the path does not take (with ``Allow``), a body over the limit, an
unparsable request, an unexpected server error — and whichever deployment answers (the lean
channel app, portal/channel_app.py, or the staff portal, portal/core/errors.py). The codes are
listed in the OpenAPI document (portal/channel/openapi.py) and docs/security.md.
"""

from __future__ import annotations

from flask import jsonify
from werkzeug.exceptions import HTTPException

PREFIX = "/api/channel/v1"

# HTTP-level refusals: status → (stable code, message)
HTTP_ERRORS = {
    400: ("BAD_REQUEST", "请求无效"),
    404: ("NOT_FOUND", "接口不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    413: ("BODY_TOO_LARGE", "请求体过大"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "请求体须为 JSON（Content-Type: application/json）"),
    429: ("TOO_MANY_REQUESTS", "请求过于频繁，请稍后再试"),
    500: ("INTERNAL_ERROR", "服务内部错误，请稍后重试"),
}


def is_channel_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def json_error(status: int, code: str, message: str, headers: dict | None = None):
    resp = jsonify({"code": code, "message": message})
    resp.status_code = status
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def http_error(exc: HTTPException):
    """An HTTP-layer error as the channel API's JSON; a 405 keeps its ``Allow`` header."""
    status = exc.code or 500
    code, message = HTTP_ERRORS.get(status) or HTTP_ERRORS[500 if status >= 500 else 400]
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
    return json_error(status, code, message, headers)
