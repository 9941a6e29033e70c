"""Sandbox peer: SMS gateway, core banking, mobile banking and credit bureau over HTTP.

Behaves like the real systems where it matters to us: latency, configurable 500s and
late answers (effect applied, reply after the caller's timeout), duplicate detection
by idempotency key, gateway capacity, delivery receipts, and an SMS inbox page.
"""

from __future__ import annotations

import hashlib
import time

from flask import Flask, Response, abort, jsonify, render_template_string, request

from portal.core.masking import mask_mobile
from portal.sandbox.core import register_core
from portal.sandbox.state import SYSTEMS, SandboxState

INBOX = """<!doctype html><html lang="zh"><head><meta charset="utf-8">
<title>沙箱短信收件箱</title><meta http-equiv="refresh" content="5">
<style>body{font-family:sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:4px 8px}
</style></head><body><h1>沙箱短信收件箱（最近 {{ msgs|length }} 条）</h1>
<p>共接收 {{ stats["keys"] }} 个幂等请求，重复请求 {{ stats["duplicates"] }} 次。</p>
<table><tr><th>时间</th><th>手机号</th><th>内容</th><th>回执</th></tr>
{% for m in msgs %}<tr><td>{{ m.at }}</td><td>{{ m.mobile }}</td><td>{{ m.content }}</td>
<td>{{ m.status }}</td></tr>{% endfor %}</table></body></html>"""


def create_sandbox_app(sms_capacity: int = 3000) -> Flask:
    app = Flask("sandbox")
    state = SandboxState(sms_capacity=sms_capacity)
    app.extensions["sandbox"] = state

    def fate(system: str, endpoint: str) -> str:
        outcome = state.roll(system, endpoint)
        if outcome == "fail":
            abort(500)
        return outcome

    def reply(system: str, outcome: str, body: dict, status: int = 200):
        if outcome == "late":
            state.late_sleep(system)
        return jsonify(body), status

    def key_or_400() -> str:
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            abort(400, "Idempotency-Key required")
        return key

    # ---- SMS gateway (信息银行/短信平台)
    @app.post("/sms/send")
    def sms_send():
        outcome = fate("sms", "sms.send")
        messages = (request.get_json(silent=True) or {}).get("messages") or []
        if not state.sms_admit(len(messages)):
            return jsonify({"error": "over capacity"}), 429
        results = []
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        for m in messages:
            if not m.get("key") or not m.get("mobile") or not m.get("content"):
                results.append({"key": m.get("key"), "status": "rejected"})
                continue

            def make(seq, m=m):
                status = "failed" if m["mobile"].startswith("170") else "delivered"
                msg_id = f"SM{seq:010d}"
                state.inbox.appendleft(
                    {
                        "at": now,
                        "mobile": mask_mobile(m["mobile"]),
                        "content": m["content"],
                        "status": status,
                    }
                )
                state.receipts.append(
                    {"seq": seq, "msg_id": msg_id, "key": m["key"], "status": status, "at": now}
                )
                return {"msg_id": msg_id, "status": "accepted"}

            result, dup = state.apply("sms", "send", m["key"], m, make)
            results.append({"key": m["key"], **result, "duplicate": dup})
        return reply("sms", outcome, {"results": results})

    @app.get("/sms/receipts")
    def sms_receipts():
        after = request.args.get("after", 0, type=int)
        limit = min(request.args.get("limit", 1000, type=int), 5000)
        with state.lock:
            out = [r for r in state.receipts if r["seq"] > after][:limit]
        return jsonify({"receipts": out})

    @app.get("/sms/inbox")
    def sms_inbox():
        return render_template_string(INBOX, msgs=list(state.inbox)[:200], stats=state.stats())

    # ---- core banking via the front-end processor (核心系统/前置): portal/sandbox/core.py
    register_core(app, state, fate, reply, key_or_400)

    # ---- mobile banking (手机银行)
    @app.post("/mbank/offers")
    def mbank_push_offers():
        key = key_or_400()
        outcome = fate("mbank", "mbank.offers")
        body = request.get_json(silent=True) or {}
        count = len(body.get("offers") or []) or 1
        result, dup = state.apply(
            "mbank", "offers", key, body, lambda seq: {"batch": f"MB{seq:010d}", "accepted": count}
        )
        return reply("mbank", outcome, {**result, "duplicate": dup})

    @app.post("/mbank/application-statuses")
    def mbank_statuses():
        """Several application status changes, each applied once per its own key."""
        outcome = fate("mbank", "mbank.application-status")
        updates = (request.get_json(silent=True) or {}).get("statuses")
        if not isinstance(updates, list) or not all(
            isinstance(u, dict) and u.get("key") for u in updates
        ):
            abort(400, "statuses: a list of {key, status}")
        results = []
        for u in updates:
            result, dup = state.apply(
                "mbank",
                "application-status",
                u["key"],
                u.get("status") or {},
                lambda seq: {"batch": f"MB{seq:010d}", "accepted": 1},
            )
            results.append({**result, "duplicate": dup})
        return reply("mbank", outcome, {"results": results})

    # ---- credit bureau (征信)
    @app.post("/bureau/inquiries")
    def bureau_inquiry():
        outcome = fate("bureau", "bureau.inquiry")
        body = request.get_json(silent=True) or {}
        if not body.get("authorization_no") or not body.get("cert_no"):
            return jsonify({"error": "authorization required"}), 403
        key = request.headers.get("Idempotency-Key") or body["authorization_no"]
        digest = int(hashlib.sha256(body["cert_no"].encode()).hexdigest()[:8], 16)

        def make(seq):
            return {
                "report_no": f"ZX{seq:012d}",
                "score": 550 + digest % 300,
                "overdue_accounts": digest % 3,
                "queries_last_6m": digest % 5,
            }

        result, dup = state.apply("bureau", "inquiry", key, body, make)
        return reply("bureau", outcome, {**result, "duplicate": dup})

    @app.get("/_sandbox/mbank/offers")
    def mbank_offers():
        """The active offers mobile banking holds (from the portal's whitelist pushes)."""
        limit = min(request.args.get("limit", 50, type=int), 5000)
        latest: dict[int, dict] = {}
        with state.lock:
            pushes = [
                e.body for e in state.effects.values() if e.system == "mbank" and e.op == "offers"
            ]
        for body in pushes:
            for o in body.get("offers") or []:
                if o.get("version", 0) >= latest.get(o.get("offer_id"), {}).get("version", 0):
                    latest[o["offer_id"]] = o
        active = [o for o in latest.values() if o.get("status") == "active"]
        return jsonify({"offers": sorted(active, key=lambda o: o["offer_id"])[:limit]})

    # ---- control and observation for tests and the demo
    @app.get("/_sandbox/stats")
    def stats():
        return jsonify(state.stats())

    @app.post("/_sandbox/config")
    def configure():
        body = request.get_json(silent=True) or {}
        out = {}
        for system, knobs in body.items():
            if system == "sms_capacity":
                state.sms_capacity = int(knobs)
                continue
            if system not in SYSTEMS:
                abort(400, f"unknown system {system}")
            out[system] = state.configure(system, **knobs)
        return jsonify(out)

    @app.post("/_sandbox/reset")
    def reset():
        state.reset()
        return jsonify({"ok": True})

    @app.get("/")
    def index():
        return Response(
            "信贷工作台 sandbox peer: /sms/inbox /_sandbox/stats", mimetype="text/plain"
        )

    return app
