"""A few rows in one INSERT statement (the hot paths' small multi-row writes).

``session.execute(insert(t), [row, row])`` is an executemany: psycopg sends it in pipeline
mode (several round trips: enter, the rows, sync, exit) and SQLite steps the statement
once per row. The intake writes two events and two outbox items per submission; as one
``INSERT … VALUES (…), (…)`` each is one round trip. The statement per (table, columns,
row count) is built once, so a request only binds values.
"""

from __future__ import annotations

import functools

from sqlalchemy import Table, bindparam, insert, text

MAX_ROWS = 8  # more rows (campaigns, batches): a plain executemany


@functools.cache
def _statement(table: Table, columns: tuple[str, ...], n: int):
    # a text() statement: SQLAlchemy does not cache the compiled form of a multi-VALUES
    # insert() (it would be compiled again on every call, ~0.5 ms); the parameters are typed
    # with their columns' types (JSON, dates) as insert() would do
    names = ", ".join(f'"{c}"' for c in columns)
    rows = ", ".join("(" + ", ".join(f":{c}__{i}" for c in columns) + ")" for i in range(n))
    return text(f'INSERT INTO "{table.name}" ({names}) VALUES {rows}').bindparams(
        *(bindparam(f"{c}__{i}", type_=table.c[c].type) for i in range(n) for c in columns)
    )


@functools.cache
def _plain(table: Table):
    return insert(table)


def insert_rows(session, table: Table, rows: list[dict]) -> None:
    """INSERT the rows (dicts with the same keys) with one statement when they are few.

    Inside ``statement_batch.collect`` (PostgreSQL) the rows are collected and sent with
    the unit's other writes in one statement at the end of the block."""
    if not rows:
        return
    from portal.core import single_statement as statement_batch

    groups: dict[frozenset, list[dict]] = {}
    for row in rows:  # one INSERT per column set (an executemany takes the first row's)
        groups.setdefault(frozenset(row), []).append(row)
    batch = statement_batch.current(session)
    for group in groups.values():
        if batch is not None:
            batch.add_rows(table, group, None)
        else:
            _insert(session, table, group)


def _insert(session, table: Table, rows: list[dict]) -> None:
    if len(rows) == 1 or len(rows) > MAX_ROWS:
        session.execute(_plain(table), rows[0] if len(rows) == 1 else rows)
        return
    columns = tuple(rows[0])
    params = {f"{c}__{i}": row[c] for i, row in enumerate(rows) for c in columns}
    session.execute(_statement(table, columns, len(rows)), params)
