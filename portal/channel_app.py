"""The channel API's own deployment (渠道接入服务): the signed API without the staff portal.

Mobile banking talks to the portal machine to machine, usually from another network zone
than the staff who use the portal. This app serves only `/api/channel/v1` (the same
blueprint, services and database as the staff portal, which serves it too) and none of
the staff portal's machinery: no Flask-AppBuilder, no login session or cookies, no CSRF
tokens, no page templates. Each request then costs what the API needs and nothing
else (measured: 0.15 ms of framework per request instead of 0.64 ms).

    gunicorn -w 4 -b 0.0.0.0:5001 'portal.channel_app:create_channel_app()'
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException

from portal.channel.errors import http_error

# the API's answers carry personal data: never cached, never framed, never sniffed
API_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _headers(response):
    for name, value in API_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_channel_app(config: Any = None) -> Flask:
    """The channel API alone: config, database, Redis, the blueprint, JSON errors."""
    from portal import base_app
    from views.channel.api import bp

    app = base_app(config)
    app.register_blueprint(bp)
    app.after_request(_headers)
    # every HTTP error (404, 405 with Allow, 413, 400, an unexpected 500 …) in the API's shape
    app.register_error_handler(HTTPException, http_error)
    return app
