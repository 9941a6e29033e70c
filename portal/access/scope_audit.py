"""Refused out-of-scope requests are audited (越权访问审计), aggregated.

The data scope answers a record outside it with 404 — the same answer as for a record
that does not exist, so nothing leaks: ``_get_scoped_or_404`` of the portal's views and
actions, Flask-AppBuilder's show/edit/delete, the REST APIs' get/put/delete and the
scoped lookups of custom views. Whatever produced it, every 404 answered to a signed-in
user on a route that names a record (a rule with arguments) is counted here as
``scope_denied``: one audit row per user, route and window (``audit.record_tally``), so a
scripted sweep over ids leaves one row whose count says how many were refused.
"""

from __future__ import annotations

from flask import current_app, g, request

from portal.access import audit


def audit_refusal(response):
    if response.status_code != 404 or request.url_rule is None or not request.view_args:
        return response
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static"):
        return response
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return response
    audit.record_tally(
        current_app.extensions["sqlalchemy"].engine,
        "scope_denied",
        (user.id, endpoint),
        actor=audit.actor_of(user),
        target_type="route",
        target_id=endpoint[:64],
        detail={
            "route": request.url_rule.rule,
            "method": request.method,
            "first": {k: str(v)[:40] for k, v in request.view_args.items()},
        },
    )
    return response
