"""Login throttling and lockout, shared by every login path (browser form and JSON API).

Attempt counters live in Redis so several web processes share them: at most
PORTAL_LOGIN_MAX_ATTEMPTS failures per username and per client IP within
PORTAL_LOGIN_WINDOW_SECONDS. Independently, PORTAL_LOCKOUT_AFTER consecutive
failures lock the account (active=False) until an admin unlocks it.
"""

from __future__ import annotations

import hashlib

from flask import current_app, request

from portal.redis_conn import get_redis

THROTTLED = "throttled"


def _keys(username: str) -> list[str]:
    # usernames are hashed so no identifier is stored in clear in Redis
    uname = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:24]
    ip = request.remote_addr or "-"
    return [f"portal:login:u:{uname}", f"portal:login:ip:{ip}"]


def is_throttled(username: str) -> bool:
    limit = current_app.config["PORTAL_LOGIN_MAX_ATTEMPTS"]
    r = get_redis()
    return any(int(r.get(k) or 0) >= limit for k in _keys(username))


def register_failure(username: str) -> None:
    window = current_app.config["PORTAL_LOGIN_WINDOW_SECONDS"]
    pipe = get_redis().pipeline()
    for key in _keys(username):
        # the window starts at the first failure (SET NX works on Redis 6, unlike EXPIRE NX)
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    pipe.execute()


def clear(username: str) -> None:
    get_redis().delete(_keys(username)[0])


def retry_after_seconds(username: str) -> int:
    r = get_redis()
    return max([int(r.ttl(k)) for k in _keys(username)] + [0])
