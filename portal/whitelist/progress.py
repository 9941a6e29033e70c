"""Progress of a whitelist import in Redis (rows done / total, elapsed, ETA), read by the page."""

from __future__ import annotations

import time

from portal.core.redis_conn import get_redis

TTL = 7 * 86400
PHASES = {
    "queued": "排队中",
    "validating": "读取并校验",
    "merging": "入库合并",
    "finished": "已完成",
    "failed": "执行失败",
}


def _key(import_id: int) -> str:
    return f"portal:whitelist:progress:{import_id}"


def set_progress(import_id: int, **fields) -> None:
    """Merge fields into the import's progress record (never raises: progress is advisory)."""
    try:
        conn = get_redis()
        key = _key(import_id)
        conn.hset(key, mapping={k: str(v) for k, v in fields.items()})
        conn.expire(key, TTL)
    except Exception:  # pragma: no cover - Redis down must not fail the import
        pass


def get_progress(import_id: int) -> dict:
    """Rows done / total, percent, elapsed and ETA seconds, phase label."""
    try:
        raw = get_redis().hgetall(_key(import_id))
    except Exception:  # pragma: no cover
        raw = {}
    data = {k.decode(): v.decode() for k, v in raw.items()}
    done, total = int(data.get("done") or 0), int(data.get("total") or 0)
    started = float(data.get("started") or 0)
    phase = data.get("phase", "queued")
    elapsed = time.time() - started if started and phase not in ("finished", "failed") else None
    eta = None
    if elapsed and done and total and phase == "validating":
        eta = max(elapsed / done * (total - done), 0)
    percent = 100 if phase == "finished" else (min(99, done * 100 // total) if total else 0)
    return {
        "phase": phase,
        "phase_label": PHASES.get(phase, phase),
        "done": done,
        "total": total,
        "percent": percent,
        "elapsed": round(elapsed, 1) if elapsed is not None else None,
        "eta": round(eta, 1) if eta is not None else None,
        "status": data.get("status"),
        "message": data.get("message"),
    }
