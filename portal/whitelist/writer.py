"""The whitelist import's database writer: validated chunks are written while the file is
still being read (a second thread; the database drivers release the GIL while they wait).

Per chunk of validated rows, two indexed lookups decide each row's path (in bulk mode,
snapshots read once at the start instead: the blacklist, the customers on file before the
import, and the validator's "first upsert row of this customer" flag):

* the customer is on the blacklist → an error row (黑名单客户);
* the customer existed before this chunk → the staging table, where the set-based rules
  and merge of :mod:`portal.whitelist.merge` handle changes, revocations and applied
  offers at the end (one statement each);
* a new customer → written straight into ``customer`` and ``offer`` (PostgreSQL COPY in
  pieces, SQLite multi-row INSERTs): nothing on file can conflict with a customer that does not exist,
  so the only database rules are the blacklist and "revoke of nothing".

A customer created by an earlier chunk is "existing" for later chunks, which is what the
whole-file rules said as well: a file holds each (customer, product) once and each
customer in one institution (checked while validating), so no later row can conflict
with what an earlier chunk wrote. Everything runs in the import's one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import threading
from collections.abc import Iterator
from itertools import chain

from sqlalchemy import text
from sqlalchemy.engine import Connection

from portal.whitelist.merge import BLACKLISTED, NOTHING_TO_REVOKE, STAGE, STAGE_COLUMNS

CUSTOMER_COLUMNS = (
    "id",
    "id_number",
    "name",
    "mobile",
    "birth_date",
    "gender",
    "branch_id",
    "institution_id",
    "created_at",
)
OFFER_COLUMNS = (
    "customer_id",
    "product_id",
    "branch_id",
    "institution_id",
    "limit_amount",
    "rate",
    "expiry_date",
    "status",
    "version",
    "synced_version",
    "import_id",
    "created_at",
    "updated_at",
)


def copy_line(r: tuple) -> str:
    # validated values hold no tab, newline or backslash (names refuse them, the rest are
    # digits, codes and dates), so COPY text needs no escaping, only NULLs
    if None in r:
        return "\t".join("\\N" if v is None else str(v) for v in r) + "\n"
    return "\t".join(map(str, r)) + "\n"


def _copy(conn: Connection, table: str, columns: tuple[str, ...], data) -> None:
    """COPY text into a table. `data`: a string, or an iterable of strings sent one by one
    (the server parses each piece while the next is built: the two overlap)."""
    with conn.connection.driver_connection.cursor() as cur:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for piece in [data] if isinstance(data, str) else data:
                copy.write(piece.encode())


PIECE = 2_000  # rows per COPY piece


def _pieces(rows: list, line) -> Iterator[str]:
    for i in range(0, len(rows), PIECE):
        yield "".join(map(line, rows[i : i + PIECE]))


def write_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Append rows to a table: one COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, "".join(map(copy_line, rows)))
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


SQLITE_ROWS_PER_INSERT = 100


def _sqlite_insert(conn, table: str, columns, row_sql: str, rows: list[tuple]) -> None:
    """Multi-row INSERTs of SQLITE_ROWS_PER_INSERT rows each (far fewer statement steps, and
    fewer GIL hand-overs between this thread and the reading one), then the remainder."""
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    n = SQLITE_ROWS_PER_INSERT
    whole = len(rows) - len(rows) % n
    if whole:
        flat = [tuple(chain.from_iterable(rows[i : i + n])) for i in range(0, whole, n)]
        conn.exec_driver_sql(head + ", ".join([row_sql] * n), flat)
    if whole < len(rows):
        conn.exec_driver_sql(head + row_sql, rows[whole:])


def customer_numbers(conn: Connection) -> set[str]:
    """Every customer's ID number (bulk mode: the table is locked and at most file-sized)."""
    return set(conn.execute(text("SELECT id_number FROM customer")).scalars())


def _present(conn: Connection, table: str, ids: list[str]) -> set[str]:
    """Which of these ID numbers are in `table` (one indexed lookup per number)."""
    if conn.dialect.name == "postgresql":
        # the tables grow by a chunk per call and their statistics lag behind: without
        # this the planner scans the whole table once per chunk (quadratic in the file)
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        # one comma-joined string: psycopg adapts a list to an array in Python, 20k at a time
        sql = f"SELECT id_number FROM {table} WHERE id_number = ANY(string_to_array(:ids, ','))"
        found = set(conn.execute(text(sql), {"ids": ",".join(ids)}).scalars())
        conn.execute(text("SET LOCAL enable_seqscan = on"))
        return found
    sql = f"SELECT id_number FROM {table} WHERE id_number IN (SELECT value FROM json_each(:ids))"
    return set(conn.execute(text(sql), {"ids": json.dumps(ids)}).scalars())


def _new_ids(conn: Connection, n: int, locked: bool = False) -> list[int]:
    """n new customer ids. locked: the customer table is ours alone (PostgreSQL bulk mode),
    so nobody else draws from its sequence: one block is reserved in one call."""
    if conn.dialect.name == "postgresql":
        if "wl_customer_seq" not in conn.info:
            conn.info["wl_customer_seq"] = conn.execute(
                text("SELECT pg_get_serial_sequence('customer', 'id')")
            ).scalar_one()
        if locked:
            last = conn.execute(
                text(
                    "SELECT setval(CAST(:seq AS regclass), nextval(CAST(:seq AS regclass)) + :n - 1)"
                ),
                {"seq": conn.info["wl_customer_seq"], "n": n},
            ).scalar_one()
            return list(range(last - n + 1, last + 1))
        ids = conn.execute(
            text(
                "SELECT string_agg(nextval(CAST(:seq AS regclass))::text, ',')"
                " FROM generate_series(1, :n)"
            ),
            {"seq": conn.info["wl_customer_seq"], "n": n},
        ).scalar_one()
        return [int(i) for i in ids.split(",")]
    # SQLite: the import transaction holds the database's write lock (merge.prepare)
    top = conn.execute(text("SELECT coalesce(max(id), 0) FROM customer")).scalar_one()
    return list(range(top + 1, top + 1 + n))


class ChunkWriter:
    """put(rows) from the reading thread; the writes happen on a second thread.

    write=False (dry runs) classifies and stages without writing customers or offers.
    """

    def __init__(
        self,
        conn: Connection,
        import_id: int,
        now: dt.datetime,
        write: bool,
        existing: set[str] | None = None,
    ) -> None:
        self.conn, self.import_id, self.write = conn, import_id, write
        # existing (bulk mode): every customer's ID number before this file, read up front
        # (the table is locked, at most file-sized, and its ID-number key may be set aside).
        # A customer is then known when it existed before, or when an earlier row of this
        # file created it: an upsert row that is not the customer's first valid upsert row
        # (the validator's flag; the first one was written, since the only refusals left,
        # blacklist and "revoke of nothing", never hit a valid first upsert of a customer
        # whose later rows pass). Otherwise (small imports) the table is asked per chunk.
        self.existing = existing
        # the blacklist, read once in bulk mode (a snapshot at the start of the import);
        # else looked up per chunk
        self.black: set[str] | None = None
        if existing is not None:
            self.black = set(conn.execute(text("SELECT id_number FROM blacklist_entry")).scalars())
        self.now = now.isoformat(" ", "microseconds")
        self.figures = {"customers_created": 0, "offers_created": 0, "error_rows": 0}
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="whitelist-writer", daemon=True)

    def __enter__(self) -> ChunkWriter:
        # writing: whitelist_merge.prepare() has taken SQLite's write lock for our new ids
        self._thread.start()
        return self

    def put(self, rows: list[tuple]) -> None:
        if self._error is not None:
            raise self._error
        if rows:
            self._queue.put(rows)

    def __exit__(self, exc_type, *_exc) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_type is None:
            raise self._error

    def _run(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._chunk(rows)
                except BaseException as exc:  # noqa: BLE001 — re-raised in the reading thread
                    self._error = exc

    def _chunk(self, rows: list[tuple]) -> None:
        conn = self.conn
        ids = list({r[1] for r in rows})
        black = self.black if self.black is not None else _present(conn, "blacklist_entry", ids)
        existing = self.existing
        known = existing if existing is not None else _present(conn, "customer", ids)
        staged: list[tuple] = []
        refused: list[tuple] = []
        direct: list[tuple] = []
        for r in rows:
            idn = r[1]
            if idn in black:
                refused.append((*r, BLACKLISTED))
            elif idn in known or (existing is not None and r[13] == 0 and r[12] == "U"):
                staged.append(r)
            elif r[12] == "R":
                refused.append((*r, NOTHING_TO_REVOKE))
            else:
                direct.append(r)
        write_rows(conn, STAGE, STAGE_COLUMNS, staged)
        write_rows(conn, STAGE, (*STAGE_COLUMNS, "err"), refused)
        self.figures["error_rows"] += len(refused)
        if not direct:
            return
        first = [r for r in direct if r[13] == 1]
        self.figures["customers_created"] += len(first)
        self.figures["offers_created"] += len(direct)
        if not self.write:
            return
        ids = _new_ids(conn, len(first), locked=self.existing is not None)
        new = dict(zip((r[1] for r in first), ids, strict=True))
        now, imp = self.now, self.import_id
        if conn.dialect.name == "postgresql":
            # COPY text built directly: a direct row has no NULLs (name, mobile, dates,
            # amounts are all required for a new offer) and no tab, newline or backslash
            _copy(
                conn,
                "customer",
                CUSTOMER_COLUMNS,
                _pieces(
                    first,
                    lambda r: (
                        f"{new[r[1]]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5]}"
                        f"\t{r[6]}\t{r[7]}\t{now}\n"
                    ),
                ),
            )
            _copy(
                conn,
                "offer",
                OFFER_COLUMNS,
                _pieces(
                    direct,
                    lambda r: (
                        f"{new[r[1]]}\t{r[8]}\t{r[6]}\t{r[7]}\t{r[9]}\t{r[10]}\t{r[11]}"
                        f"\tpending\t1\t0\t{imp}\t{now}\t{now}\n"
                    ),
                ),
            )
            return
        # SQLite: the per-import constants are literals in the statement (our own timestamp
        # and integer), so each row binds only its own values
        _sqlite_insert(
            conn,
            "customer",
            CUSTOMER_COLUMNS,
            f"(?, ?, ?, ?, ?, ?, ?, ?, '{now}')",
            [(new[r[1]], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in first],
        )
        _sqlite_insert(
            conn,
            "offer",
            OFFER_COLUMNS,
            f"(?, ?, ?, ?, ?, ?, ?, 'pending', 1, 0, {int(imp)}, '{now}', '{now}')",
            [(new[r[1]], r[8], r[6], r[7], r[9], r[10], r[11]) for r in direct],
        )
