"""How fast this machine's CPU is right now: a fixed pure-Python loop, timed.

The benchmarks print it beside their figures (``cpu_probe_ms``) because a shared 2-core
machine's speed drifts — on 2026-11-23 the same loop took 0.9 s at one moment and 2.3 s a
few minutes later — so a figure is only comparable with one taken at a similar probe.
"""

from __future__ import annotations

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
