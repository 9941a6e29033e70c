"""The approval panel of the home page (首页): the approver's queue and the branch's counts.

Exposed to templates as ``approval_home()``; every figure is counted inside the
signed-in user's scope (portal/access/scoping.py).
"""

from __future__ import annotations

from flask import g
from sqlalchemy import func, select

from models.applications import Application
from models.approvals import QUEUES
from models.credit import CreditLine
from portal.access.permissions import ACTION_APPROVE, ACTION_READ, RESOURCE_APPROVAL_QUEUE
from portal.access.scoping import apply_scope, current_scope
from portal.approvals import case_queue as approval_queue


def approval_home() -> dict | None:
    """Queue counts and the oldest open items for approvers; level counts for managers."""
    from flask import current_app

    from portal.core.extensions import db

    sm = current_app.appbuilder.sm
    if not sm.has_access(ACTION_READ, RESOURCE_APPROVAL_QUEUE):
        return None
    s, scope, user = db.session, current_scope(), g.user
    out = {"levels": approval_queue.scope_counts(s, scope), "queues": QUEUES}
    if sm.has_access(ACTION_APPROVE, RESOURCE_APPROVAL_QUEUE):
        out["counts"] = approval_queue.counts(s, user, scope)
        out["oldest"] = approval_queue.queue_page(s, user, scope, limit=5)
    failed = apply_scope(
        select(func.count())
        .select_from(Application)
        .where(Application.state == "disbursement_failed"),
        Application,
        scope,
    )
    out["disbursement_failed"] = s.scalar(failed)
    lines = apply_scope(
        select(CreditLine.status, func.count()).group_by(CreditLine.status), CreditLine, scope
    )
    out["lines"] = dict(s.execute(lines).all())
    return out
