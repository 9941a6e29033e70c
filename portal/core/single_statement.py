"""A unit of work's writes as ONE statement on PostgreSQL (data-modifying CTEs).

The intake's submission writes to seven tables (the offer and its history, the credit
authorization, the application and its events, the manager's SMS, the outbox, the
idempotency record). Sent one by one, that is seven round trips and seven times the
driver's and SQLAlchemy's per-statement work — most of a submission's CPU. Inside
``with collect(session):`` (PostgreSQL only; elsewhere it yields None and nothing
changes) the services still decide every row themselves, but ``multirow.insert_rows``
only *collects* them, and the one conditional UPDATE the whole unit depends on — the
**guard**, here the offer's status change, set by the offer service — is held too. At
the end of the block everything goes to the server as one statement:

    WITH d AS (SELECT CAST(:rows AS jsonb) AS j),
         g AS (UPDATE offer … WHERE id = … AND version = … RETURNING id),
         g1 AS (INSERT INTO offer_history … SELECT … FROM g),
         i0 AS (INSERT INTO "t" (…) SELECT … FROM jsonb_populate_recordset(NULL::"t",
                (SELECT j->0 FROM d)) WHERE EXISTS (SELECT FROM g)
                [ON CONFLICT (…) DO NOTHING RETURNING 1]),
         …
    SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM i0), …

Every INSERT takes its rows only if the guard matched, so a lost race writes nothing;
a unique violation fails the whole statement. After it, the checks the services
registered (``after``) run in order — "the guard matched exactly one row", "the
authorization was ours or new" — and may raise; the caller's transaction is then
rolled back. Rows that must reference a new row's id (events → application, outbox →
SMS) get ids drawn from the sequences beforehand (``give_ids`` / ``take_id``: the intake
draws them in its first read). The statement's text is built once per shape (guard,
tables, columns) and every row's values travel in one JSON parameter, so a request binds
a handful of parameters to a prepared statement. Text that jsonb cannot hold (U+0000,
a lone surrogate) makes the batch go statement by statement, with the same counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

_KEY = "statement_batch"


@dataclass(frozen=True)
class Guard:
    """A conditional UPDATE … RETURNING id (``update``) and statements that follow it
    (``follow``: INSERT … SELECT … FROM {guard}), with their own parameters."""

    name: str  # identifies the SQL shape in the statement cache
    update: str
    follow: tuple[str, ...]
    params: dict


@dataclass
class Batch:
    ids: dict[str, list[int]] = field(default_factory=dict)
    guard: Guard | None = None
    inserts: list[tuple[Table, list[dict], tuple[str, ...] | None]] = field(default_factory=list)
    checks: list[Callable[[], None]] = field(default_factory=list)
    guard_count: int = 0
    inserted: list[int | None] = field(default_factory=list)

    def give_ids(self, table: str, ids: list[int]) -> None:
        self.ids.setdefault(table, []).extend(ids)

    def take_id(self, table: str) -> int | None:
        """A pre-drawn id for a new row of `table`, or None (the caller inserts as usual)."""
        pool = self.ids.get(table)
        return pool.pop(0) if pool else None

    def set_guard(self, guard: Guard) -> None:
        if self.guard is not None:
            raise RuntimeError("one guard per statement batch")
        self.guard = guard

    def add_rows(self, table: Table, rows: list[dict], conflict: tuple[str, ...] | None) -> int:
        """Collect rows (same keys); returns the insert's index for `inserted`."""
        self.inserts.append((table, rows, conflict))
        return len(self.inserts) - 1

    def after(self, check: Callable[[], None]) -> None:
        """Run `check` after the statement (it reads guard_count / inserted and may raise)."""
        self.checks.append(check)


def current(session: Session) -> Batch | None:
    return session.info.get(_KEY)


@contextlib.contextmanager
def collect(session: Session) -> Iterator[Batch | None]:
    """Collect the block's writes and send them as one statement at its end (PostgreSQL).

    Nothing is sent if the block raises. Yields None on other databases (SQLite has no
    data-modifying CTEs): the writes then run one by one, as they are made."""
    if session.get_bind().dialect.name != "postgresql" or current(session) is not None:
        yield None
        return
    batch = session.info[_KEY] = Batch()
    try:
        yield batch
    finally:
        session.info.pop(_KEY, None)
    flush(session, batch)


def flush(session: Session, batch: Batch) -> None:
    if batch.guard is None and not batch.inserts:
        return
    shape = (
        (batch.guard.name, batch.guard.update, batch.guard.follow) if batch.guard else None,
        tuple((t, tuple(rows[0]), c) for t, rows, c in batch.inserts),
    )
    params = dict(batch.guard.params) if batch.guard else {}
    params["rows"] = json.dumps(
        [rows for _t, rows, _c in batch.inserts],
        default=_json_value,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if _jsonb_safe(params["rows"]):
        counts = session.execute(_statement(shape), params).one()
        batch.guard_count = counts[0] if batch.guard else 0
        returning = iter(counts[1:] if batch.guard else counts)
        batch.inserted = [next(returning) if c else None for _t, _r, c in batch.inserts]
    else:
        _one_by_one(session, batch)
    for check in batch.checks:
        check()


def _jsonb_safe(doc: str) -> bool:
    """jsonb holds neither U+0000 nor a lone surrogate (PostgreSQL's json columns and
    SQLite do): text like that goes the statement-by-statement way instead."""
    if "\\u0000" in doc:
        return False
    try:
        doc.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _one_by_one(session: Session, batch: Batch) -> None:
    """The same writes and counts, one statement each (values bound as usual)."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from portal.core import multirow

    batch.guard_count = 0
    if batch.guard is not None:
        g = batch.guard
        ctes = ", ".join(_guard_ctes(g.update, g.follow))
        batch.guard_count = session.execute(
            text(f"WITH {ctes} SELECT count(*) FROM g"), g.params
        ).scalar_one()
    batch.inserted = []
    for table, rows, conflict in batch.inserts:
        if batch.guard is not None and not batch.guard_count:
            batch.inserted.append(0 if conflict else None)  # as the one statement would
            continue
        if conflict:
            stmt = pg_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
            done = session.execute(stmt.returning(text("1")), rows).all()
            batch.inserted.append(len(done))
        else:
            multirow.insert_rows(session, table, rows)
            batch.inserted.append(None)


def _guard_ctes(update: str, follow: tuple[str, ...]) -> list[str]:
    """The guard as CTE ``g`` and what follows it as ``g1``, ``g2`` … (each reads ``g``)."""
    return [f"g AS ({update})"] + [
        f"g{n + 1} AS ({sql.format(guard='g')})" for n, sql in enumerate(follow)
    ]


def _json_value(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot send {type(value).__name__} in a statement batch")


@functools.lru_cache(maxsize=64)
def _statement(shape):
    """The statement's text for one shape. Every row's values travel in ONE JSON parameter
    (an array of row objects per INSERT), typed by the table's own row type in the
    server (``jsonb_populate_recordset``): a short text and a handful of parameters, which
    psycopg converts once and keeps prepared (it re-parses texts over 4 KB or with more
    than 50 parameters on every call)."""
    guard, inserts = shape
    ctes = ["d AS (SELECT CAST(:rows AS jsonb) AS j)"]
    selects = []
    exists = ""
    if guard is not None:
        _name, update, follow = guard
        ctes += _guard_ctes(update, follow)
        selects.append("(SELECT count(*) FROM g)")
        exists = " WHERE EXISTS (SELECT FROM g)"
    for k, (table, columns, conflict) in enumerate(inserts):
        names = ", ".join(f'"{c}"' for c in columns)
        sql = (
            f'INSERT INTO "{table.name}" ({names}) SELECT {names}'
            f' FROM jsonb_populate_recordset(NULL::"{table.name}", (SELECT j->{k} FROM d))'
            f"{exists}"
        )
        if conflict:
            keys = ", ".join(f'"{c}"' for c in conflict)
            sql += f" ON CONFLICT ({keys}) DO NOTHING RETURNING 1"
            selects.append(f"(SELECT count(*) FROM i{k})")
        ctes.append(f"i{k} AS ({sql})")
    if not selects:
        selects.append("0")
    return text(f"WITH {', '.join(ctes)} SELECT {', '.join(selects)}")
