"""Audit trail (审计): explicit events plus automatic business-record change capture.

`record()` writes in the caller's transaction, so a business change and its audit
row commit or roll back together. `record_now()` commits on its own connection
for events that must survive a rolled-back request (failed logins).
`record_tally()` counts floods (throttled logins, refused out-of-scope requests) in one
row per subject and window instead of one row per event.
Changes to audited models are captured by a session `after_flush` hook; values of
personal-data columns are masked, passwords never written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from typing import Any

from flask import current_app, g, has_request_context, request
from flask_appbuilder.security.sqla.models import Role, User
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.customers import Customer
from portal.core.masking import mask_id_number, mask_mobile

# model class -> audit target type
AUDITED: dict[type, str] = {Customer: "customer", OrgUnit: "org_unit", User: "user", Role: "role"}
_SECRET = {"password"}
_MASKERS = {"id_number": mask_id_number, "mobile": mask_mobile, "phone": mask_mobile}


def _actor() -> dict[str, Any]:
    if not has_request_context():
        return {"actor_id": None, "actor_name": "system", "ip": None}
    user = getattr(g, "user", None)
    info: dict[str, Any] = {"ip": request.remote_addr}
    if user is not None and getattr(user, "is_authenticated", False):
        info.update(
            actor_id=user.id,
            actor_name=user.username,
            institution_id=getattr(user, "institution_id", None),
            branch_id=getattr(user, "org_unit_id", None),
        )
    return info


def _row(event_name: str, target_type, target_id, detail, actor: dict | None) -> dict:
    values = {
        "at": dt.datetime.now(),
        "event": event_name,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "detail": detail or {},
        "actor_id": None,
        "actor_name": None,
        "institution_id": None,
        "branch_id": None,
        "ip": None,
    }
    values.update(_actor())
    if actor:
        values.update(actor)
    return values


def record(
    session: Session,
    event_name: str,
    target_type: str | None = None,
    target_id: Any = None,
    detail: dict | None = None,
    actor: dict | None = None,
) -> None:
    """Append an audit row inside the caller's transaction."""
    session.execute(
        insert(AuditLog).values(**_row(event_name, target_type, target_id, detail, actor))
    )


def record_now(engine, event_name: str, **kwargs: Any) -> None:
    """Append an audit row in its own transaction (survives the request's rollback)."""
    row = _row(
        event_name,
        kwargs.get("target_type"),
        kwargs.get("target_id"),
        kwargs.get("detail"),
        kwargs.get("actor"),
    )
    with engine.begin() as conn:
        conn.execute(insert(AuditLog).values(**row))


def record_tally(engine, event_name: str, subject: tuple, **kwargs: Any) -> None:
    """Count an event in ONE audit row per `subject` and window, in its own transaction.

    The window (PORTAL_AUDIT_AGGREGATE_SECONDS) starts at the subject's first event; Redis
    holds its start so every web process adds to the same row. The row keeps the first
    event's time and details; `count` and `last_at` grow — the only change the database's
    append-only trigger allows, and only on such a row.
    """
    subject_id = hashlib.sha256(
        json.dumps([event_name, *subject], default=str, ensure_ascii=False).encode()
    ).hexdigest()[:32]
    window_key = f"portal:audit:tally:{subject_id}"
    pipe = current_app.extensions["redis"].pipeline()
    pipe.set(
        window_key, time.time_ns(), ex=current_app.config["PORTAL_AUDIT_AGGREGATE_SECONDS"], nx=True
    )
    pipe.get(window_key)
    started = pipe.execute()[1]
    row = _row(
        event_name,
        kwargs.get("target_type"),
        kwargs.get("target_id"),
        kwargs.get("detail"),
        kwargs.get("actor"),
    )
    agg_key = hashlib.sha256(f"{subject_id}:{started!r}".encode()).hexdigest()
    row.update(count=1, last_at=row["at"], agg_key=agg_key)
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    stmt = upsert(AuditLog).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AuditLog.agg_key],
        set_={"count": AuditLog.count + 1, "last_at": stmt.excluded.last_at},
    )
    with engine.begin() as conn:
        conn.execute(stmt)


def actor_of(user: Any) -> dict[str, Any]:
    return {
        "actor_id": user.id,
        "actor_name": user.username,
        "institution_id": getattr(user, "institution_id", None),
        "branch_id": getattr(user, "org_unit_id", None),
    }


def _display(key: str, value: Any) -> Any:
    if key in _SECRET:
        return "******"
    if key in _MASKERS and isinstance(value, str):
        return _MASKERS[key](value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def _changes(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.attrs:
        hist = state.attrs[attr.key].history
        if not hist.has_changes():
            continue
        if hasattr(attr, "columns"):
            old = hist.deleted[0] if hist.deleted else None
            new = hist.added[0] if hist.added else None
            out[attr.key] = [_display(attr.key, old), _display(attr.key, new)]
        else:  # relationship: record what was added / removed
            added = [str(v) for v in hist.added if v is not None]
            removed = [str(v) for v in hist.deleted if v is not None]
            if added or removed:
                out[attr.key] = {"added": added, "removed": removed}
    return out


def _target(obj: Any) -> str | None:
    for cls, name in AUDITED.items():
        if isinstance(obj, cls):
            return name
    return None


def _collect(session: Session, flush_context: Any, instances: Any) -> None:
    pending = session.info.setdefault("audit_pending", [])
    for obj in list(session.new):
        if _target(obj):
            pending.append(("create", obj, None))
    for obj in list(session.dirty):
        if _target(obj) and session.is_modified(obj, include_collections=True):
            changes = _changes(obj)
            if changes:
                pending.append(("update", obj, changes))
    for obj in list(session.deleted):
        if _target(obj):
            pending.append(("delete", obj, {"repr": str(obj)}))


def _write(session: Session, flush_context: Any) -> None:
    pending = session.info.pop("audit_pending", [])
    ignore_keys = {
        "last_login",
        "login_count",
        "fail_login_count",
        "changed_on",
        "updated_at",
        "session_epoch",  # portal.access.sessions; the event that raised it is audited
        "locked_until",  # audited as account_locked / account_unlocked
    }
    for kind, obj, detail in pending:
        if kind == "update":
            detail = {k: v for k, v in detail.items() if k not in ignore_keys}
            if not detail:
                continue
        if kind == "create":
            detail = {"repr": str(obj)}
        session.execute(
            insert(AuditLog).values(
                **_row(kind, _target(obj), getattr(obj, "id", None), {"changes": detail}, None)
            )
        )


def install(session_factory: Any) -> None:
    """Attach the change-capture hooks to a session class/factory (idempotent)."""
    if not event.contains(session_factory, "before_flush", _collect):
        event.listen(session_factory, "before_flush", _collect)
        event.listen(session_factory, "after_flush", _write)
