"""Keep a process running (进程守护): restart it with backoff when it dies.

`portal worker` runs its RQ worker as a child under a :class:`Supervisor` (and `portal demo`
runs each of its processes under one), so a worker that dies — killed, or aborted by a
native library — is started again instead of leaving every queue without a consumer:

* the child is restarted after 1 s, then 2, 4 … up to `max_backoff` while it keeps dying
  quickly; a child that ran `healthy_after` seconds starts the count again; each death and
  restart is logged;
* SIGTERM / SIGINT to the supervisor (or `stop()`) is passed to the child once (the child
  runs in a process group of its own, so a terminal's Ctrl-C does not reach it twice) and
  the supervisor ends with the child's exit code, restarting nothing;
* the child is told the supervisor's pid (``PORTAL_SUPERVISOR_PID``) and ends with it
  (portal.core.child_process.die_with_parent), so a killed supervisor leaves no worker behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time

log = logging.getLogger(__name__)
PARENT_ENV = "PORTAL_SUPERVISOR_PID"


def describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Supervisor:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        max_backoff: float = 30,
        healthy_after: float = 60,
    ) -> None:
        self.name, self.argv = name, argv
        self.env = dict(env if env is not None else os.environ)
        self.max_backoff, self.healthy_after = max_backoff, healthy_after
        self.child: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._signal = signal.SIGTERM

    def _start(self) -> subprocess.Popen:
        env = {**self.env, PARENT_ENV: str(os.getpid())}
        return subprocess.Popen(self.argv, env=env, process_group=0)

    def run(self) -> int:
        """Run the child until stopped; returns its last exit code."""
        delay = 1.0
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return 0
                self.child = self._start()
            started = time.monotonic()
            code = self._wait()
            if self._stopping.is_set():
                return code
            ran = time.monotonic() - started
            delay = 1.0 if ran >= self.healthy_after else delay
            log.warning(
                "%s (pid %s) ended after %.0fs (%s); restarting in %.0fs",
                self.name,
                self.child.pid,
                ran,
                describe(code),
                delay,
            )
            if self._stopping.wait(delay):
                return code
            self.restarts += 1
            delay = min(delay * 2, self.max_backoff)

    def _wait(self) -> int:
        while True:
            try:
                return self.child.wait()
            except InterruptedError:  # pragma: no cover - PEP 475 retries for us
                continue

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Pass `sig` to the child once and restart nothing more."""
        with self._lock:
            first = not self._stopping.is_set()
            self._stopping.set()
            child = self.child
        if first and child is not None and child.poll() is None:
            child.send_signal(sig)

    def run_in_foreground(self) -> int:
        """run(), with SIGTERM / SIGINT to this process stopping the child (the main thread)."""

        def on_signal(signum, _frame) -> None:
            self.stop(signum)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        return self.run()

    def start_thread(self) -> threading.Thread:
        """run() in a thread (the thread lives as long as the child: see die_with_parent)."""
        thread = threading.Thread(target=self.run, name=f"supervise-{self.name}", daemon=True)
        thread.start()
        return thread

    def stop_and_wait(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        self.stop(sig)
        child = self.child
        if child is None:
            return
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
