"""Channel API keys and request signing (渠道接入密钥与签名).

A channel (mobile banking …) signs every request with HMAC-SHA256 over::

    METHOD \\n PATH \\n X-Timestamp \\n X-Nonce \\n sha256_hex(body)

sent as ``X-Api-Key``, ``X-Timestamp`` (Unix seconds), ``X-Nonce`` (8–64 chars) and
``X-Signature`` (lower-case hex). The server must recompute the HMAC, so it needs the
secret itself, not a hash: secrets are stored encrypted (Fernet, AES-128-CBC +
HMAC) under a key derived from the app's SECRET_KEY, shown once when issued and never
again. Rotating SECRET_KEY therefore means re-issuing channel keys. Keys are
rotated by issuing a new one (both valid) and revoking the old.

Each process caches the key row with its decrypted secret (decrypting per request
would cost more than the rest of the check). Revocation still takes effect at once in
every process: any change to the key table (issue, revoke) sets a fresh random token
in Redis (``channel:keys:version``) once its transaction has committed, and a cached
key is used only while its token equals Redis's. The token is read in the same pipeline
as the nonce's ``SET NX`` (after the signature check, before anything is done), so the
per-request cost is one Redis round trip, as before; on a changed token the key row is
read again and a revoked key is refused. A random token rather
than a counter: a Redis flush cannot bring an old value back, and a missing token is
replaced by a new one, which invalidates every cache. ``_TTL`` only bounds the cache's
age as a second line.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from models.applications import ChannelKey

log = logging.getLogger(__name__)
CHANNELS = {"mbank": "手机银行"}
VERSION_KEY = "channel:keys:version"
_TTL = 60.0
_CHANGED = "channel_keys_changed"  # Session.info flag: announce after the commit
# key id -> (monotonic expiry, version token it was loaded under, key or None)
_cache: dict[str, tuple[float, bytes, KeyInfo | None]] = {}


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    channel: str
    secret: bytes
    institution_id: int | None


class AuthError(Exception):
    """A refused signature check: stable code, Chinese message, HTTP 401."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"portal-channel-keys:" + current_app.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _redis():
    return current_app.extensions["redis"]


def bump(redis=None) -> bytes:
    """Tell every process that the key table changed: a fresh random version token."""
    token = secrets.token_hex(8).encode()
    (redis or _redis()).set(VERSION_KEY, token)
    return token


def version(redis) -> bytes:
    """The current version token; a missing one (Redis flushed) is replaced by a new one."""
    token = redis.get(VERSION_KEY)
    if token is None:
        fresh = secrets.token_hex(8).encode()
        token = fresh if redis.set(VERSION_KEY, fresh, nx=True) else redis.get(VERSION_KEY)
    return token or b""


def _changed(session: Session) -> None:
    """Announce the change once this session's transaction commits (not before: another
    process re-reading the row before the commit would cache the old, active key)."""
    session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        try:
            bump()
        except Exception:  # committed already; Redis down means no channel request passes
            log.exception("channel key change not announced; caches expire within %ss", _TTL)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback keeps the outer change
        session.info.pop(_CHANGED, None)


def issue(
    session: Session, channel: str, institution_id: int | None = None, note: str | None = None
) -> tuple[ChannelKey, str]:
    """Create a key; returns it with the clear secret (show once; not stored in clear)."""
    if channel not in CHANNELS:
        raise ValueError("未知渠道")
    secret = secrets.token_urlsafe(32)
    key = ChannelKey(
        channel=channel,
        key_id="ck_" + secrets.token_hex(12),
        secret_enc=_fernet().encrypt(secret.encode()).decode(),
        institution_id=institution_id,
        active=True,
        note=(note or "")[:100] or None,
        created_at=dt.datetime.now(),
    )
    session.add(key)
    session.flush()
    _changed(session)
    return key, secret


def ensure_key(session: Session, channel: str, key_id: str, secret: str, note: str) -> bool:
    """Create a key with a known secret if missing (the demo's sandbox mobile banking)."""
    if session.scalar(select(ChannelKey.id).where(ChannelKey.key_id == key_id)):
        return False
    session.add(
        ChannelKey(
            channel=channel,
            key_id=key_id,
            secret_enc=_fernet().encrypt(secret.encode()).decode(),
            active=True,
            note=note,
            created_at=dt.datetime.now(),
        )
    )
    _changed(session)
    session.commit()
    return True


def revoke(session: Session, key: ChannelKey) -> None:
    """Stop the key; every process refuses it from the caller's commit on (no local shortcut:
    this process learns of it through the same version token as all the others)."""
    key.active, key.revoked_at = False, dt.datetime.now()
    _changed(session)


def _load(session: Session, key_id: str, token: bytes) -> KeyInfo | None:
    """Read the key row (active only), decrypt its secret, cache it under `token`."""
    row = session.execute(
        select(ChannelKey.channel, ChannelKey.secret_enc, ChannelKey.institution_id).where(
            ChannelKey.key_id == key_id, ChannelKey.active.is_(True)
        )
    ).first()
    info = None
    if row is not None:
        try:
            secret = _fernet().decrypt(row.secret_enc.encode())
        except InvalidToken:  # SECRET_KEY changed since the key was issued
            secret = None
        if secret is not None:
            info = KeyInfo(key_id, row.channel, secret, row.institution_id)
    if len(_cache) > 10_000:  # unknown key ids are cached too: keep the dict bounded
        _cache.clear()
    _cache[key_id] = (time.monotonic() + _TTL, token, info)
    return info


def _lookup(session: Session, redis, key_id: str) -> tuple[bytes, KeyInfo | None]:
    """The key as of the current version token (from the cache when it is current)."""
    token = version(redis)
    hit = _cache.get(key_id)
    if hit and hit[0] > time.monotonic() and hit[1] == token:
        return token, hit[2]
    return token, _load(session, key_id, token)


def _cached(key_id: str) -> tuple[bytes, KeyInfo] | None:
    """A cached, positive entry not past its TTL — used before the token is known."""
    hit = _cache.get(key_id)
    if hit and hit[2] is not None and hit[0] > time.monotonic():
        return hit[1], hit[2]
    return None


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body or b"").hexdigest()
    return "\n".join([method.upper(), path, timestamp, nonce, digest]).encode()


def sign(secret: str | bytes, method: str, path: str, timestamp: str, nonce: str, body: bytes):
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(
        key, canonical(method, path, timestamp, nonce, body), hashlib.sha256
    ).hexdigest()


def verify(session: Session, redis, method: str, path: str, headers, body: bytes) -> KeyInfo:
    """Check key, timestamp window, signature, then nonce (Redis SET NX EX); raise AuthError."""
    key_id = headers.get("X-Api-Key", "")
    ts = headers.get("X-Timestamp", "")
    nonce = headers.get("X-Nonce", "")
    signature = headers.get("X-Signature", "")
    if not (key_id and ts and nonce and signature):
        raise AuthError(
            "AUTH_MISSING", "缺少签名请求头（X-Api-Key、X-Timestamp、X-Nonce、X-Signature）"
        )
    if not (8 <= len(nonce) <= 64 and nonce.isascii() and nonce.isprintable()):
        raise AuthError("AUTH_BAD_NONCE", "X-Nonce 须为 8–64 位可见 ASCII 字符")
    window = current_app.config["CHANNEL_TIMESTAMP_WINDOW"]
    try:
        skew = abs(time.time() - int(ts))
    except ValueError:
        raise AuthError("AUTH_BAD_TIMESTAMP", "X-Timestamp 须为 Unix 秒数") from None
    if skew > window:
        raise AuthError("AUTH_STALE_TIMESTAMP", f"请求时间戳超出允许范围（±{window} 秒）")
    key_id = key_id[:64]
    hit = _cached(key_id)
    if hit is None:  # cold or negative cache: look the token up first (one more round trip)
        token, info = _lookup(session, redis, key_id)
        if info is None:
            raise AuthError("AUTH_BAD_KEY", "API Key 无效或已停用")
    else:
        token, info = hit
    expected = sign(info.secret, method, path, ts, nonce, body)
    if not hmac.compare_digest(expected, signature.lower()):
        if hit is not None:  # the cached key may be gone: say so rather than "bad signature"
            token, fresh = _lookup(session, redis, key_id)
            if fresh is None:
                raise AuthError("AUTH_BAD_KEY", "API Key 无效或已停用")
        raise AuthError("AUTH_BAD_SIGNATURE", "签名校验失败")
    # the nonce and the version token in one round trip: a key revoked anywhere since it
    # was cached shows as a new token, and the key is read again before anything is done
    pipe = redis.pipeline(transaction=False)
    pipe.set(f"channel:nonce:{key_id}:{nonce}", 1, nx=True, ex=2 * window + 5)
    pipe.get(VERSION_KEY)
    fresh_nonce, current = pipe.execute()
    if current != token:
        info = _load(session, key_id, current if current is not None else version(redis))
        if info is None:
            raise AuthError("AUTH_BAD_KEY", "API Key 无效或已停用")
        if not hmac.compare_digest(sign(info.secret, method, path, ts, nonce, body), expected):
            raise AuthError("AUTH_BAD_SIGNATURE", "签名校验失败")
    if not fresh_nonce:
        raise AuthError("AUTH_REPLAY", "重复的请求（随机数 X-Nonce 已使用过）")
    return info
