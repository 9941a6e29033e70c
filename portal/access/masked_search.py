"""Searching masked columns (脱敏字段): complete values only without ``can_unmask``, audited.

A model declares its masked columns once, ``__masked__ = {"id_number": RESIDENT_ID}``
(kinds in portal/core/masking.py). Every list view and REST API over that model — or reaching
it through a relationship, ``customer.id_number`` — applies this module's rule through
views/list_guard.py:

* without the resource's ``can_unmask`` a masked column is matched only by "equal" with
  the complete value, normalised as on input (18-character resident ID, 11-digit mobile,
  spaces / +86 / full-width allowed); prefix, substring, range, not-equal, in-list and
  sorting are refused — a partial value can never narrow a list, so it cannot be read back
  one character at a time;
* every search on a masked column is audited, one row per request: ``masked_lookup`` (an
  exact lookup), ``masked_search`` (any search by a holder of ``can_unmask``),
  ``masked_search_refused``; the value is stored masked and as a keyed fingerprint
  (HMAC-SHA256 with SECRET_KEY, so an auditor holding a number can find its lookups),
  never in clear.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import inspect

from portal.core.identity import IdentityError, normalize_mobile, parse_resident_id
from portal.core.masking import MOBILE, RESIDENT_ID, mask_id_number, mask_mobile

EXACT = "eq"  # the one filter operation allowed without can_unmask (Flask-AppBuilder's arg name)


@dataclass(frozen=True)
class Kind:
    label: str  # 身份证号
    complete: str  # what a complete value is, for the refusal message
    normalise: Callable[[str], str]  # raises IdentityError
    mask: Callable[[str], str]


KINDS: dict[str, Kind] = {
    RESIDENT_ID: Kind(
        "身份证号", "完整的 18 位身份证号", lambda v: parse_resident_id(v).number, mask_id_number
    ),
    MOBILE: Kind("手机号", "完整的 11 位手机号", normalize_mobile, mask_mobile),
}


@dataclass(frozen=True)
class Condition:
    """One condition on a masked column, as the audit shows it: a complete value masked as
    on screen, anything else only by its length; each with its fingerprint."""

    column: str
    op: str
    values: tuple[str, ...]
    kind: Kind
    complete: bool

    def describe(self) -> dict[str, Any]:
        shown = [self.kind.mask(v) if self.complete else "*" * len(v) for v in self.values]
        return {
            "column": self.column,
            "op": self.op,
            "values": shown,
            "fingerprints": [fingerprint(v) for v in self.values],
        }


class Refused(ValueError):
    """A masked column searched other than by its complete value; the message is Chinese."""


def kind_of(model: Any, column: str) -> Kind | None:
    """The masked kind of `column` of `model` (dotted through relationships), else None."""
    *path, name = column.split(".")
    for rel in path:
        relationship = inspect(model).relationships.get(rel)
        if relationship is None:
            return None
        model = relationship.mapper.class_
    declared = getattr(model, "__masked__", None) or {}
    return KINDS.get(declared.get(name, ""))


def refusal(kind: Kind) -> str:
    return f"{kind.label}只能按{kind.complete}精确查询（条件选“等于”）"


def _complete(kind: Kind, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        return kind.normalise(value)
    except IdentityError:
        return None


def condition(column: str, kind: Kind, op: str, values: list[Any], may_unmask: bool) -> Condition:
    """The condition to apply and audit, or Refused: without ``can_unmask`` only "equal"
    with complete values (replaced by their normalised form) is accepted."""
    values = values if isinstance(values, list) else [values]
    normalised = [_complete(kind, v) for v in values]
    complete = bool(values) and all(n is not None for n in normalised)
    if op == EXACT and complete:
        return Condition(column, op, tuple(normalised), kind, True)
    if not may_unmask:
        raise Refused(refusal(kind))
    return Condition(column, op, tuple(str(v) for v in values), kind, False)


def refused(column: str, kind: Kind, op: str, values: list[Any]) -> Condition:
    values = values if isinstance(values, list) else [values]
    return Condition(column, op, tuple(str(v) for v in values), kind, False)


def fingerprint(value: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def audit(
    model: Any,
    view: str,
    conditions: list[Condition],
    event: str,
    rows: int | None = None,
) -> None:
    """One audit row for the request's conditions on masked columns (own transaction: a
    list request commits nothing, and a refused search must leave its trace)."""
    if not conditions:
        return
    from portal.access import audit as audit_log
    from portal.core.extensions import db

    detail: dict[str, Any] = {"view": view, "conditions": [c.describe() for c in conditions]}
    if rows is not None:
        detail["rows"] = rows
    audit_log.record_now(db.engine, event, target_type=model.__tablename__, detail=detail)
