"""Cluster-wide send rate (every worker on every machine shares one Redis window)."""

from __future__ import annotations

import time

from portal.core.redis_conn import get_redis


def acquire(name: str, n: int, per_second: int) -> float:
    """Block until `n` units fit in the current one-second window; returns seconds waited."""
    if n > per_second:
        raise ValueError("a single request larger than the capacity; split it")
    conn = get_redis()
    waited = 0.0
    while True:
        now = time.time()
        key = f"portal:rate:{name}:{int(now)}"
        pipe = conn.pipeline()
        pipe.incrby(key, n)
        pipe.expire(key, 3)
        used = pipe.execute()[0]
        if used <= per_second:
            return waited
        conn.decrby(key, n)
        pause = 1 - (now % 1) + 0.001
        time.sleep(pause)
        waited += pause
