"""Channel keys: a revoked (or rotated-out) key is refused on the very next signed request,
in this process and in any other, although keys are cached per process; the cached path
costs one Redis GET and no SQL."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import event, select, update

from models.applications import ChannelKey
from portal.channel import keys as channel_keys
from portal.core.extensions import db as ext_db
from tests.support.applications import ChannelClient, channel_key, signed_headers


@pytest.fixture()
def api(app, db):
    key_id, secret = channel_key()
    return ChannelClient(app.test_client(), key_id, secret)


def _ping(api) -> tuple[int, str]:
    """A cheap signed request: the status of an unknown application (404 when signed right)."""
    resp = api.call("GET", "/applications/NOPE")
    return resp.status_code, resp.get_json()["code"]


def _refused(api) -> None:
    status, code = _ping(api)
    assert (status, code) == (401, "AUTH_BAD_KEY")
    resp = api.call("GET", "/applications/NOPE")
    assert resp.get_json()["message"] == "API Key 无效或已停用"


def test_revoked_in_the_admin_page_refused_on_the_next_request(api, db, client_for):
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")  # the key is now cached here
    assert channel_keys._cache[api.key_id][2] is not None
    key = db.session.scalar(select(ChannelKey).where(ChannelKey.key_id == api.key_id))
    resp = client_for("hq_admin").post(f"/channel-keys/revoke/{key.id}", follow_redirects=True)
    assert "密钥已停用，立即生效" in resp.get_data(as_text=True)
    _refused(api)


def test_revoked_by_another_process_refused_on_the_next_request(api, db, redis):
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")
    cached = channel_keys._cache[api.key_id]
    # what another process's revoke does: its own transaction, then a new version token;
    # this process's cache is not touched
    with ext_db.engine.begin() as conn:
        conn.execute(update(ChannelKey).where(ChannelKey.key_id == api.key_id).values(active=False))
    channel_keys.bump(redis)
    assert channel_keys._cache[api.key_id] == cached
    _refused(api)


def test_rotation_new_key_works_at_once_old_key_refused_at_once(app, api, db, client_for):
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")
    admin = client_for("hq_admin")
    page = admin.post("/channel-keys/issue", data={"channel": "mbank", "note": "轮换"})
    text = page.get_data(as_text=True)
    new_id = re.search(r'id="key-id">([^<]+)<', text).group(1)
    new_secret = re.search(r'id="key-secret">([^<]+)<', text).group(1)
    fresh = ChannelClient(app.test_client(), new_id, new_secret)
    assert _ping(fresh) == (404, "APPLICATION_NOT_FOUND")
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")  # both valid during the switch
    old = db.session.scalar(select(ChannelKey).where(ChannelKey.key_id == api.key_id))
    admin.post(f"/channel-keys/revoke/{old.id}")
    _refused(api)
    assert _ping(fresh) == (404, "APPLICATION_NOT_FOUND")


def test_uncommitted_revocation_is_not_announced(api, db, redis):
    """The token moves only after the commit; a rolled-back revoke changes nothing."""
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")
    before = redis.get(channel_keys.VERSION_KEY)
    key = db.session.scalar(select(ChannelKey).where(ChannelKey.key_id == api.key_id))
    channel_keys.revoke(db.session, key)
    db.session.flush()
    assert redis.get(channel_keys.VERSION_KEY) == before
    db.session.rollback()
    assert redis.get(channel_keys.VERSION_KEY) == before
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")
    db.session.commit()  # nothing pending: the rolled-back flag must not fire now
    assert redis.get(channel_keys.VERSION_KEY) == before


def test_lost_version_token_invalidates_every_cache(api, db, redis):
    """After a Redis flush the token is recreated with a new value, so no cached key
    survives it (a counter could come back to an old value; a random token cannot)."""
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")
    with ext_db.engine.begin() as conn:  # changed behind the portal's back, not announced
        conn.execute(update(ChannelKey).where(ChannelKey.key_id == api.key_id).values(active=False))
    redis.delete(channel_keys.VERSION_KEY)
    _refused(api)


class _CountingRedis:
    """Counts round trips to Redis (a pipeline's execute is one)."""

    def __init__(self, real) -> None:
        self.real, self.trips = real, 0

    def get(self, *a, **k):
        self.trips += 1
        return self.real.get(*a, **k)

    def set(self, *a, **k):
        self.trips += 1
        return self.real.set(*a, **k)

    def pipeline(self, *a, **k):
        pipe = self.real.pipeline(*a, **k)
        run = pipe.execute

        def execute():
            self.trips += 1
            return run()

        pipe.execute = execute
        return pipe


def test_cached_key_costs_one_redis_round_trip_and_no_sql(app, api, db, redis):
    assert _ping(api) == (404, "APPLICATION_NOT_FOUND")  # warm
    statements = []

    def count(*_a, **_k):
        statements.append(1)

    counting = _CountingRedis(redis)
    path, body = "/api/channel/v1/applications", b'{"request_id": "x"}'
    n = 300
    heads = [signed_headers(api.key_id, api.secret, "POST", path, body) for _ in range(n)]
    event.listen(ext_db.engine, "before_cursor_execute", count)
    try:
        start = time.perf_counter()
        for h in heads:
            channel_keys.verify(db.session, counting, "POST", path, h, body)
        per_call_ms = (time.perf_counter() - start) * 1000 / n
    finally:
        event.remove(ext_db.engine, "before_cursor_execute", count)
    print(f"\nsigned request check, cached key: {per_call_ms:.3f} ms, {counting.trips / n} trips")
    assert statements == []
    assert counting.trips == n  # nonce SET NX and version GET share one pipeline
    assert per_call_ms < 5.0
    # after a change anywhere the key is read again once, then cached under the new token
    channel_keys.bump(redis)
    event.listen(ext_db.engine, "before_cursor_execute", count)
    try:
        for h in [signed_headers(api.key_id, api.secret, "POST", path, body) for _ in range(3)]:
            channel_keys.verify(db.session, redis, "POST", path, h, body)
    finally:
        event.remove(ext_db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
