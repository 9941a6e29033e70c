"""A few rows in one INSERT statement (the hot paths' small multi-row writes).

``session.execute(insert(t), [row, row])`` is an executemany: psycopg sends it in pipeline
mode (several round trips: enter, the rows, sync, exit) and SQLite steps the statement
once per row. The intake writes two events and two outbox items per submission; as one
``INSERT … VALUES (…), (…)`` each is one round trip. The statement per (table, columns,
row count) is built once, so a request only binds values.
"""

from __future__ import annotations

import functools

from sqlalchemy import Table, bindparam, insert

MAX_ROWS = 8  # more rows (campaigns, batches): a plain executemany


@functools.cache
def _statement(table: Table, columns: tuple[str, ...], n: int):
    # typed explicitly: SQLAlchemy gives the column's type only to the first row's
    # parameters (a JSON value in the second row would reach the driver as a dict)
    return insert(table).values(
        [{c: bindparam(f"{c}__{i}", type_=table.c[c].type) for c in columns} for i in range(n)]
    )


@functools.cache
def _plain(table: Table):
    return insert(table)


def insert_rows(session, table: Table, rows: list[dict]) -> None:
    """INSERT the rows (dicts with the same keys) with one statement when they are few."""
    if not rows:
        return
    columns = tuple(rows[0])
    keys = set(columns)
    if len(rows) == 1 or len(rows) > MAX_ROWS or any(r.keys() != keys for r in rows[1:]):
        session.execute(_plain(table), rows[0] if len(rows) == 1 else rows)
        return
    params = {f"{c}__{i}": row[c] for i, row in enumerate(rows) for c in columns}
    session.execute(_statement(table, columns, len(rows)), params)
