"""Login throttling and temporary lockout, shared by every login path (form and JSON API).

Policy (docs/security.md, "Sessions, tokens, login throttling and lockout"):

* per (username, client address): PORTAL_LOGIN_MAX_ATTEMPTS failures per window — one
  person's mistakes or one attacker's guesses never block the colleagues next to them;
* per client address, all usernames together: PORTAL_LOGIN_IP_MAX_FAILURES per window —
  sized for a branch whose staff share one NAT address (IPv6 counts per /64);
* per username, from any address: PORTAL_LOCKOUT_AFTER consecutive failures lock the account
  for PORTAL_LOCKOUT_MINUTES (``ab_user.locked_until``; 0 = until an admin unlocks). A lock
  is not a deactivation: ``active`` is untouched and the lock lifts by itself.

Counters live in Redis, shared by every web process; a window starts at its first failure.
A refused (throttled or locked) attempt checks no password and counts no failure.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from portal.core.redis_conn import get_redis

USERNAME_AUDIT_MAX = 64  # the longest username the portal allows (ab_user.username)
_FOREVER = dt.datetime(9999, 12, 31)  # PORTAL_LOCKOUT_MINUTES = 0: until an admin unlocks


@dataclass(frozen=True)
class Refusal:
    reason: str  # "ip", "user_ip" or "locked"
    retry_after: int  # seconds; 0 = not by waiting (an admin must unlock)
    message: str


def now() -> dt.datetime:
    """The clock of lockouts (local naive time, like every DateTime column here)."""
    return dt.datetime.now()


def clean_username(raw: Any) -> str:
    """NFKC, without control or invisible (format) characters, trimmed."""
    text = unicodedata.normalize("NFKC", str(raw or ""))
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip()


def audit_username(username: str) -> str:
    """The attempted username as the audit log stores it: cleaned and capped."""
    name = clean_username(username)
    return name if len(name) <= USERNAME_AUDIT_MAX else name[: USERNAME_AUDIT_MAX - 1] + "…"


def client_address() -> str:
    """The client's address, IPv6 reduced to its /64 (one subscriber's whole range)."""
    raw = request.remote_addr or "-"
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _user_hash(username: str) -> str:
    # usernames are hashed so no identifier is stored in clear in Redis
    return hashlib.sha256(clean_username(username).lower().encode()).hexdigest()[:24]


def _user_ip_key(username: str) -> str:
    return f"portal:login:uip:{_user_hash(username)}:{client_address()}"


def _ip_key() -> str:
    return f"portal:login:ip:{client_address()}"


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def throttled(username: str) -> Refusal | None:
    """Refusal when the address or the (username, address) pair has used its failures."""
    cfg = current_app.config
    pipe = get_redis().pipeline()
    for key in (_ip_key(), _user_ip_key(username)):
        pipe.get(key)
        pipe.ttl(key)
    ip_n, ip_ttl, uip_n, uip_ttl = pipe.execute()
    for reason, count, ttl, limit in (
        ("ip", ip_n, ip_ttl, cfg["PORTAL_LOGIN_IP_MAX_FAILURES"]),
        ("user_ip", uip_n, uip_ttl, cfg["PORTAL_LOGIN_MAX_ATTEMPTS"]),
    ):
        if int(count or 0) >= limit:
            wait = max(int(ttl), 1)
            return Refusal(reason, wait, f"登录尝试过于频繁，请 {_minutes(wait)} 分钟后再试")
    return None


def locked_for(user: Any) -> Refusal | None:
    """Refusal while the user's temporary lock lasts."""
    until = getattr(user, "locked_until", None) if user is not None else None
    if until is None or until <= now():
        return None
    if until >= _FOREVER:
        return Refusal("locked", 0, "连续登录失败次数过多，账户已锁定，请联系管理员解锁")
    wait = max(int((until - now()).total_seconds()), 1)
    return Refusal(
        "locked",
        wait,
        f"连续登录失败次数过多，账户已临时锁定，请 {_minutes(wait)} 分钟后再试或联系管理员解锁",
    )


def register_failure(username: str) -> None:
    window = current_app.config["PORTAL_LOGIN_WINDOW_SECONDS"]
    pipe = get_redis().pipeline()
    for key in (_ip_key(), _user_ip_key(username)):
        # the window starts at the first failure (SET NX works on Redis 6, unlike EXPIRE NX)
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    pipe.execute()


def clear(username: str) -> None:
    """After a successful login: the (username, this address) counter starts again. The
    address's own budget does not (one valid account must not reset a spray's count)."""
    get_redis().delete(_user_ip_key(username))


def should_lock(user: Any) -> bool:
    return (user.fail_login_count or 0) >= current_app.config["PORTAL_LOCKOUT_AFTER"]


def lock(user: Any) -> dt.datetime:
    """Lock the user temporarily (the caller commits); returns the lock's end."""
    minutes = current_app.config["PORTAL_LOCKOUT_MINUTES"]
    user.locked_until = now() + dt.timedelta(minutes=minutes) if minutes > 0 else _FOREVER
    user.fail_login_count = 0  # after the lock the count starts again
    return user.locked_until


def unlock(user: Any) -> bool:
    """Lift the user's lock and (username, address) throttles (the caller commits);
    whether the user was locked."""
    was_locked = locked_for(user) is not None
    user.locked_until = None
    user.fail_login_count = 0
    r = get_redis()
    keys = list(r.scan_iter(match=f"portal:login:uip:{_user_hash(user.username)}:*", count=500))
    if keys:
        r.delete(*keys)
    return was_locked
