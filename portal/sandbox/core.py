"""The sandbox's core banking (核心系统, via the front-end processor 前置).

Operations are idempotent by key (credit lines, card links, contracts, terminations,
limit changes); the status of any key can be asked; a usage feed reports each line's
used amount by core reference, changed since a cursor. Tests set usage through
``POST /_sandbox/core/usage``. Every endpoint honours the configured latency, 500s
and late replies of the ``core`` system, and is counted in /_sandbox/stats.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import abort, jsonify, request

OPERATIONS = {"credit-lines", "card-links", "contracts", "contract-terminations", "credit-limits"}


def _amount(value) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return None
    return amount if amount.is_finite() else None


def register_core(app, state, fate, reply, key_or_400) -> None:
    @app.post("/core/<op>")
    def core_op(op: str):
        if op not in OPERATIONS:
            abort(404)
        key = key_or_400()
        outcome = fate("core", f"core.{op}")
        body = request.get_json(silent=True) or {}
        if op == "credit-limits" and key not in state.effects:
            refused = _refuse_limit(state, body)
            if refused:
                return jsonify({"error": refused}), 422

        def make(seq):
            if op == "credit-limits":
                state.limits[body["line_ref"]] = str(body["new_limit"])
            return {"ref": f"CB{seq:012d}", "op": op, "status": "success"}

        result, dup = state.apply("core", op, key, body, make)
        return reply("core", outcome, {**result, "duplicate": dup})

    @app.get("/core/operations/<key>")
    def core_status(key: str):
        state.roll("core", "core.status")
        effect = state.effects.get(key)
        if effect is None or effect.system != "core":
            return jsonify({"status": "not_found"}), 404
        return jsonify(effect.result)

    @app.get("/core/usage")
    def core_usage():
        """额度使用情况: lines whose used amount changed after the cursor (seq), oldest first."""
        outcome = fate("core", "core.usage")
        after = request.args.get("after", 0, type=int)
        limit = min(request.args.get("limit", 500, type=int), 5000)
        rows = state.usage_after(after, limit)
        cursor = rows[-1]["seq"] if rows else after
        return reply("core", outcome, {"items": rows, "cursor": cursor})

    @app.post("/_sandbox/core/usage")
    def set_usage():
        """Test/demo control: core records used amounts, e.g. {"items": [{"line_ref", "used"}]}."""
        items = (request.get_json(silent=True) or {}).get("items") or []
        return jsonify({"items": [state.set_usage(i["line_ref"], i["used"]) for i in items]})


def _refuse_limit(state, body: dict) -> str | None:
    """Why core refuses a limit change (a permanent 422), or None."""
    new_limit = _amount(body.get("new_limit"))
    if not body.get("line_ref") or new_limit is None or new_limit <= 0:
        return "line_ref and a positive new_limit required"
    row = state.usage.get(body["line_ref"])
    if row is not None and (_amount(row["used"]) or 0) > new_limit:
        return "new limit below the used amount"
    return None
