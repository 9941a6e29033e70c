"""The lease of a running whitelist import (导入租约): an import whose process died fails.

While an import runs, a thread of its process renews ``heartbeat_at`` on the import's row
every WHITELIST_IMPORT_HEARTBEAT_SECONDS, on a connection of its own (the import's data
goes in one long transaction on another). If the process dies — a worker killed, the
machine restarted — the renewals stop, and `sweep()` (run by `portal cron` every
WHITELIST_IMPORT_SWEEP_INTERVAL and by each worker as it starts) fails every running import
whose lease is older than WHITELIST_IMPORT_LEASE_SECONDS, instead of leaving it 处理中
forever. Its data transaction died with the process, so nothing of it was written; the
uploader may simply upload the file again.

The sweep's update is conditional (still running, lease still old), so an import that
renews or finishes meanwhile is left alone; on SQLite, where the import's transaction holds
the only write lock, the sweep waits for it like every other writer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading

from flask import current_app
from sqlalchemy import or_, select, update

from models.whitelist import WhitelistImport
from portal.core.extensions import db
from portal.whitelist.progress import set_progress

log = logging.getLogger(__name__)
DEAD_MESSAGE = "导入进程异常终止（处理进程已停止响应），未写入任何数据，请重新上传"


def _renew(engine, import_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(WhitelistImport)
            .where(WhitelistImport.id == import_id, WhitelistImport.status == "running")
            .values(heartbeat_at=dt.datetime.now())
        )


@contextlib.contextmanager
def held(import_id: int):
    """Renew the import's lease from a background thread while the block runs."""
    engine = db.engine
    every = float(current_app.config["WHITELIST_IMPORT_HEARTBEAT_SECONDS"])
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                _renew(engine, import_id)
            except Exception:  # noqa: BLE001 — a missed renewal is retried next time
                log.warning("whitelist import %s: lease renewal failed", import_id)

    thread = threading.Thread(target=beat, name=f"import-lease-{import_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)


def sweep(now: dt.datetime | None = None) -> int:
    """Fail every running import whose lease expired; returns how many."""
    now = now or dt.datetime.now()
    lease = dt.timedelta(seconds=current_app.config["WHITELIST_IMPORT_LEASE_SECONDS"])
    cutoff = now - lease
    stale = (
        WhitelistImport.status == "running",
        or_(
            WhitelistImport.heartbeat_at < cutoff,
            WhitelistImport.heartbeat_at.is_(None) & (WhitelistImport.started_at < cutoff),
        ),
    )
    ids = list(db.session.scalars(select(WhitelistImport.id).where(*stale)))
    failed = []
    for import_id in ids:
        done = db.session.execute(
            update(WhitelistImport)
            .where(WhitelistImport.id == import_id, *stale)
            .values(status="failed", message=DEAD_MESSAGE, finished_at=now)
        ).rowcount
        db.session.commit()
        if done:
            failed.append(import_id)
            set_progress(import_id, phase="failed", message=DEAD_MESSAGE)
    if failed:
        log.warning("whitelist imports %s: lease expired, marked failed", failed)
    return len(failed)
