"""How fast this machine's CPU is right now: a fixed pure-Python loop, timed.

The benchmarks print it beside their figures (``cpu_probe_ms``) because a shared 2-core
machine's speed drifts — on 2026-11-23 the same loop took 0.9 s at one moment and 2.3 s a
few minutes later — so a figure is only comparable with one taken at a similar probe.
"""

from __future__ import annotations

import os
import time


def cpu_probe_ms(n: int = 5_000_000) -> float:
    """Milliseconds for n additions in a Python loop (best of three)."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        total = 0
        for i in range(n):
            total += i
        best = min(best, time.perf_counter() - t)
    return round(best * 1000, 1)


if __name__ == "__main__":
    print(cpu_probe_ms())


class MemorySampler:
    """The resident memory of this process and the descendants it starts meanwhile together,
    sampled every `interval` seconds in a thread (Linux /proc): `peak_mb` is the largest sum seen. Unlike
    the sum of each process's own peak (ru_maxrss), it counts what was held at the same time."""

    def __init__(self, interval: float = 0.01) -> None:
        import threading

        self.interval, self.peak_mb = interval, 0.0
        self.at_peak: dict[str, float] = {}  # process name -> MB at the peak
        self.peak_at = 0.0  # seconds after the start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        page_mb = os.sysconf("SC_PAGE_SIZE") / 1048576
        start = time.monotonic()
        # only this process and what it starts from now on: helpers that were already
        # running (a multiprocessing resource tracker, say) are not part of what is measured
        before = set(_family(os.getpid())) - {os.getpid()}
        while not self._stop.wait(self.interval):
            family = [p for p in _family(os.getpid()) if p not in before]
            each = {pid: _rss_pages(pid) * page_mb for pid in family}
            total = sum(each.values())
            if total > self.peak_mb:
                self.peak_mb, self.peak_at = total, time.monotonic() - start
                self.at_peak = {f"{_name(pid)}[{pid}]": round(mb) for pid, mb in each.items()}


def _family(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return " ".join(fh.read().decode(errors="replace").split("\0")[1:3])[:60]
    except OSError:
        return "?"


def _rss_pages(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1])
    except (OSError, IndexError):
        return 0
