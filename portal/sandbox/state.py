"""The sandbox peer's memory: behaviour knobs per system, idempotent effects, call counts."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field

SYSTEMS = ("sms", "core", "mbank", "bureau")


@dataclass
class Behaviour:
    """How one simulated system misbehaves: latency, 500s, slow replies past the timeout."""

    latency_ms: float = 5.0
    failure_rate: float = 0.0  # share of calls answered 500 before any effect
    timeout_rate: float = 0.0  # share of calls that take effect but answer too late
    timeout_seconds: float = 15.0


@dataclass
class Effect:
    key: str
    system: str
    op: str
    body: dict
    result: dict
    at: float = field(default_factory=time.time)


class SandboxState:
    """Thread-safe store; an idempotency key takes effect once, repeats get the first result."""

    def __init__(self, sms_capacity: int = 3000) -> None:
        self.lock = threading.Lock()
        self.sms_capacity = sms_capacity
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.behaviour = {s: Behaviour() for s in SYSTEMS}
            self.effects: dict[str, Effect] = {}
            self.calls: Counter[str] = Counter()
            self.received: Counter[str] = Counter()  # per idempotency key
            self.duplicates = 0
            self.inbox: deque[dict] = deque(maxlen=500)
            self.receipts: list[dict] = []
            self.seq = itertools.count(1)
            # core banking's view of each credit line, by core reference: usage feed rows
            # (seq-numbered, newest per line) and the limit core last set
            self.usage: dict[str, dict] = {}
            self.usage_seq = itertools.count(1)
            self.limits: dict[str, str] = {}
            self._window: deque[tuple[float, int]] = deque()

    def configure(self, system: str, **knobs: float) -> dict:
        with self.lock:
            b = self.behaviour[system]
            for k, v in knobs.items():
                if hasattr(b, k):
                    setattr(b, k, float(v))
            return asdict(b)

    def roll(self, system: str, endpoint: str) -> str:
        """Count the call, sleep the latency, and pick its fate: ok / fail / late."""
        with self.lock:
            self.calls[endpoint] += 1
            b = self.behaviour[system]
        if b.latency_ms:
            time.sleep(b.latency_ms / 1000 * random.uniform(0.5, 1.5))
        r = random.random()
        if r < b.failure_rate:
            return "fail"
        if r < b.failure_rate + b.timeout_rate:
            return "late"
        return "ok"

    def late_sleep(self, system: str) -> None:
        time.sleep(self.behaviour[system].timeout_seconds)

    def apply(self, system: str, op: str, key: str, body: dict, make_result) -> tuple[dict, bool]:
        """Apply an effect once per key; returns (result, duplicate)."""
        with self.lock:
            self.received[key] += 1
            seen = self.effects.get(key)
            if seen is not None:
                self.duplicates += 1
                return seen.result, True
            result = make_result(next(self.seq))
            self.effects[key] = Effect(key, system, op, body, result)
            return result, False

    def set_usage(self, line_ref: str, used) -> dict:
        """Core records a line's used amount (drawdowns, repayments); the feed reports it."""
        with self.lock:
            row = {"line_ref": line_ref, "used": str(used), "seq": next(self.usage_seq)}
            self.usage[line_ref] = row
            return row

    def usage_after(self, after: int, limit: int) -> list[dict]:
        with self.lock:
            rows = sorted(
                (r for r in self.usage.values() if r["seq"] > after), key=lambda r: r["seq"]
            )
        return rows[:limit]

    def sms_admit(self, n: int) -> bool:
        """Gateway capacity: at most sms_capacity messages per calendar second."""
        second = int(time.time())
        with self.lock:
            if self._window and self._window[0][0] != second:
                self._window.clear()
            used = sum(c for _, c in self._window)
            if used + n > self.sms_capacity and used > 0:
                return False
            self._window.append((second, n))
            return True

    def stats(self) -> dict:
        with self.lock:
            effects = Counter(e.system for e in self.effects.values())
            ops = Counter(f"{e.system}.{e.op}" for e in self.effects.values())
            return {
                "calls": dict(self.calls),
                "effects": dict(effects),
                "effects_by_op": dict(ops),
                "duplicates": self.duplicates,
                "max_received_per_key": max(self.received.values(), default=0),
                "keys": len(self.effects),
            }
