"""Staging and the set-based merge of a whitelist import (one transaction, portable SQL).

Rows of existing customers are loaded into a temporary staging table by the import's
writer (portal/whitelist/writer.py: PostgreSQL COPY, SQLite executemany), checked against
the database in a few set-based statements (blacklist, other institution's customer, offers
already applied for, revocations of nothing), then merged with INSERT … ON CONFLICT into customers and offers, the
previous values of every changed offer kept in offer_history. The caller owns the
transaction: rollback leaves no trace, commit publishes everything at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

STAGE = "wl_stage"
STAGE_COLUMNS = (
    "row_no",
    "id_number",
    "name",
    "mobile",
    "birth_date",
    "gender",
    "branch_id",
    "institution_id",
    "product_id",
    "limit_amount",
    "rate",
    "expiry_date",
    "action",
    "first_cust",
)
_DDL = f"""CREATE TEMP TABLE {STAGE} (
    row_no INTEGER NOT NULL, id_number VARCHAR(18) {{code}} NOT NULL, name VARCHAR(50),
    mobile VARCHAR(20) {{code}}, birth_date DATE, gender VARCHAR(1), branch_id INTEGER,
    institution_id INTEGER, product_id INTEGER, limit_amount NUMERIC(14, 2),
    rate NUMERIC(7, 4), expiry_date DATE, action VARCHAR(1), first_cust SMALLINT,
    err VARCHAR(200)){{suffix}}"""

BLACKLISTED = "黑名单客户，不得授信"
NOTHING_TO_REVOKE = "撤销失败：该客户没有此产品的有效额度"
# (message, condition on the staging row) — applied in order, first match wins
DB_RULES = [
    (
        BLACKLISTED,
        "EXISTS (SELECT 1 FROM blacklist_entry b WHERE b.id_number = {s}.id_number)",
    ),
    (
        "该客户属于其他法人机构，不能导入到本网点",
        "EXISTS (SELECT 1 FROM customer c WHERE c.id_number = {s}.id_number"
        " AND c.institution_id <> {s}.institution_id)",
    ),
    (
        "客户已申请该产品，额度不能通过导入修改或撤销",
        "EXISTS (SELECT 1 FROM customer c JOIN offer o ON o.customer_id = c.id"
        " WHERE c.id_number = {s}.id_number AND o.product_id = {s}.product_id"
        " AND o.status = 'applied' AND ({s}.action = 'R' OR o.limit_amount <> {s}.limit_amount"
        " OR o.rate <> {s}.rate OR o.expiry_date <> {s}.expiry_date))",
    ),
    (
        NOTHING_TO_REVOKE,
        "{s}.action = 'R' AND NOT EXISTS (SELECT 1 FROM customer c JOIN offer o"
        " ON o.customer_id = c.id WHERE c.id_number = {s}.id_number"
        " AND o.product_id = {s}.product_id AND o.status IN ('pending', 'active'))",
    ),
]


# SQLite: the default 2 MB page cache makes a million index insertions re-read their pages
# from the WAL; the import connection gets a larger cache while it runs (restored after).
SQLITE_CACHE_KB = 64 * 1024


def create_stage(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # the collation of customer.id_number / mobile (models.core.code_string)
        conn.execute(text(_DDL.format(code='COLLATE "C"', suffix=" ON COMMIT DROP")))
    else:
        conn.info["wl_cache_size"] = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KB}")
        # per-row FK checks cost more than the inserts; merge() checks the tables set-based
        # before the commit instead (no-op if a transaction is already open: then both run)
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        conn.info["wl_foreign_keys"] = True
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{STAGE}"))
        conn.execute(text(_DDL.format(code="", suffix="")))


def drop_stage(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        return
    try:
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{STAGE}"))
        conn.commit()
        if "wl_cache_size" in conn.info:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(conn.info.pop('wl_cache_size'))}")
    finally:
        if conn.info.pop("wl_foreign_keys", False):
            conn.rollback()
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            if conn.exec_driver_sql("PRAGMA foreign_keys").scalar() != 1:
                conn.invalidate()  # never hand a connection without FK checks back to the pool


def check_foreign_keys(conn: Connection) -> None:
    """SQLite: the set-based FK check of the merged tables (row checks were off)."""
    if conn.dialect.name == "postgresql":
        return
    for table in ("customer", "offer", "offer_history"):
        bad = conn.exec_driver_sql(f"PRAGMA foreign_key_check({table})").first()
        if bad is not None:
            raise RuntimeError(f"foreign key violation in {table}: {tuple(bad)}")


def apply_db_rules(conn: Connection) -> int:
    """Mark rows the database refuses; returns how many were marked."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL work_mem = '256MB'"))  # million-row hash joins in memory
        conn.execute(text(f"ANALYZE {STAGE}"))
    marked = 0
    for message, condition in DB_RULES:
        marked += conn.execute(
            text(
                f"UPDATE {STAGE} SET err = :msg WHERE err IS NULL AND " + condition.format(s=STAGE)
            ),
            {"msg": message},
        ).rowcount
    return marked


def db_errors(conn: Connection) -> Iterable[tuple]:
    """Rows the database refused, with their normalized values for the error report."""
    return conn.execute(
        text(
            f"SELECT s.row_no, s.id_number, s.name, s.mobile, b.code, p.code, s.limit_amount,"
            f" s.rate, s.expiry_date, s.action, s.err FROM {STAGE} s"
            " LEFT JOIN org_unit b ON b.id = s.branch_id LEFT JOIN product p ON p.id = s.product_id"
            " WHERE s.err IS NOT NULL ORDER BY s.row_no"
        )
    )


# A large load into small tables is much faster with the tables' keys set aside: a B-tree
# insertion per row and index (random keys such as ID numbers and mobiles cost a random page
# each) and per-row FK checks become sorted index builds and one anti-join per key at the
# end. Measured (1M rows, PostgreSQL): maintaining even the "cheap" indexes (branch, status)
# during the load cost the server ~2 µs per entry, rebuilding them ~0.5 µs. Primary keys
# stay (ascending ids: right-edge appends). Only worth it when the load is a large part of
# the table (the rebuild scans the whole table), and only with the tables locked.
BULK_MIN_ROWS = 100_000
BULK_TABLES = ("customer", "offer")
BULK_LOCK_TIMEOUT = "5s"


@dataclass
class Bulk:
    uniques: list[tuple[str, str, str]]  # (table, constraint, definition), restored first
    indexes: list[str]  # CREATE INDEX statements
    fks: list[tuple[str, str, str]]


def _bulk_objects(conn: Connection) -> Bulk:
    tables = {"t": list(BULK_TABLES)}
    if conn.dialect.name == "sqlite":
        # the UNIQUE constraints' automatic indexes (sql IS NULL) cannot be dropped: they stay
        indexes = conn.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
                " AND tbl_name IN ('customer', 'offer') ORDER BY name"
            )
        ).scalars()
        return Bulk([], list(indexes), [])
    uniques = [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'u'"
                " AND conrelid = ANY(CAST(:t AS regclass[])) ORDER BY oid"
            ),
            tables,
        )
    ]
    indexes = list(
        conn.execute(
            text(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid = ANY(CAST(:t AS regclass[])) AND NOT i.indisunique"
                " AND NOT i.indisprimary ORDER BY i.indexrelid"
            ),
            tables,
        ).scalars()
    )
    # FKs to staff (ab_user) stay: NULL manager ids cost nothing, and re-adding them would
    # block logins (ab_user updates) while the constraints are validated.
    fks = [
        tuple(r)
        for r in conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                " FROM pg_constraint WHERE contype = 'f'"
                " AND conrelid = ANY(CAST(:t AS regclass[]))"
                " AND confrelid <> CAST('ab_user' AS regclass) ORDER BY oid"
            ),
            tables,
        )
    ]
    return Bulk(uniques, indexes, fks)


def bulk_wanted(conn: Connection, rows: int) -> bool:
    if rows < BULK_MIN_ROWS:
        return False
    sql = (
        "SELECT count(*) FROM customer"
        if conn.dialect.name == "sqlite"
        else "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = CAST('customer' AS regclass)"
    )
    existing = conn.execute(text(sql)).scalar_one()
    return rows >= existing  # else rebuilding would cost more than maintaining


def _begin_bulk(conn: Connection, rows: int) -> Bulk | None:
    """Lock the tables and set their secondary keys and FKs aside, or None."""
    if not bulk_wanted(conn, rows):
        return None
    if conn.dialect.name == "sqlite":  # the import holds the database's write lock already
        bulk = _bulk_objects(conn)
        for ddl in bulk.indexes:
            conn.execute(text("DROP INDEX " + ddl.split(" INDEX ", 1)[1].split(" ON ", 1)[0]))
        return bulk
    conn.execute(text("SAVEPOINT wl_bulk"))
    conn.execute(text(f"SET LOCAL lock_timeout = '{BULK_LOCK_TIMEOUT}'"))
    try:
        conn.execute(text(f"LOCK TABLE {', '.join(BULK_TABLES)} IN ACCESS EXCLUSIVE MODE"))
    except DBAPIError:
        conn.execute(text("ROLLBACK TO SAVEPOINT wl_bulk"))  # busy: merge row by row instead
        return None
    conn.execute(text("SET LOCAL lock_timeout = 0"))
    conn.execute(text("RELEASE SAVEPOINT wl_bulk"))
    bulk = _bulk_objects(conn)
    for table, name, _definition in [*bulk.fks, *bulk.uniques]:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for ddl in bulk.indexes:
        name = ddl.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
        conn.execute(text(f"DROP INDEX {name}"))
    return bulk


def restore_keys(conn: Connection, bulk: Bulk | None) -> None:
    """The unique keys back (validating them) before the rules and the merge join on them."""
    if bulk is None or not bulk.uniques:
        return
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for table, name, definition in bulk.uniques:
        conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    bulk.uniques = []


def _end_bulk(conn: Connection, bulk: Bulk) -> None:
    """Rebuild what _begin_bulk set aside; re-adding an FK validates every row at once."""
    restore_keys(conn, bulk)
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for ddl in bulk.indexes:
        conn.execute(text(ddl))
    for table, name, definition in bulk.fks:
        conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))


def prepare(conn: Connection, rows: int, import_id: int):
    """Before an import's first write. PostgreSQL: commit without waiting for the WAL flush
    (durability comes with the batch's own status commit right after, and the WAL is in
    order). SQLite: take the database's write lock now, in a transaction (the driver opens
    one only at the first DML: DDL before it would commit on its own), so nobody else writes
    customers under the ids the writer hands out. Then, for a load at least as large as the
    tables, bulk mode. Returns the bulk state for :func:`merge`, or None."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit = off"))
    else:
        conn.execute(
            text("UPDATE whitelist_import SET status = status WHERE id = :i"), {"i": import_id}
        )
    return _begin_bulk(conn, rows)


def merge(
    conn: Connection, import_id: int, now: dt.datetime, bulk: Bulk | None = None
) -> dict[str, int]:
    """Customers and offers from the valid staged rows; history for every change; then
    what :func:`prepare` set aside is rebuilt and (SQLite) the foreign keys checked."""
    figures = _merge(conn, import_id, now, locked=bulk is not None)
    if bulk is not None:
        _end_bulk(conn, bulk)
    check_foreign_keys(conn)
    return figures


def _merge(conn: Connection, import_id: int, now: dt.datetime, locked: bool) -> dict[str, int]:
    """locked: nobody else can write customer/offer, so plain UPDATE + INSERT replace the
    (slower, speculative) INSERT … ON CONFLICT with the same effect."""
    p = {"imp": import_id, "now": now}
    ok = "s.err IS NULL"
    join_offer = (
        f"FROM {STAGE} s JOIN customer c ON c.id_number = s.id_number"
        " JOIN offer o ON o.customer_id = c.id AND o.product_id = s.product_id"
    )
    differs = (
        "(o.limit_amount <> s.limit_amount OR o.rate <> s.rate OR o.expiry_date <> s.expiry_date"
        " OR o.status IN ('expired', 'revoked'))"
    )
    # SQLite: insert in key order, so the unique indexes grow at their right edge instead of
    # touching a random page per row (28 s -> 5 s for a million customers)
    sqlite = conn.dialect.name == "sqlite"
    order_cust = " ORDER BY s.id_number" if sqlite else ""
    order_offer = " ORDER BY c.id, s.product_id" if sqlite else ""
    new_customers = conn.execute(
        text(
            f"SELECT count(*) FROM {STAGE} s WHERE {ok} AND s.first_cust = 1 AND NOT EXISTS"
            " (SELECT 1 FROM customer c WHERE c.id_number = s.id_number)"
        )
    ).scalar_one()
    cust_cols = (
        "INSERT INTO customer (id_number, name, mobile, birth_date, gender, branch_id,"
        " institution_id, created_at) SELECT s.id_number, s.name, s.mobile, s.birth_date,"
        f" s.gender, s.branch_id, s.institution_id, :now FROM {STAGE} s"
        f" WHERE {ok} AND s.first_cust = 1"
    )
    if locked:
        conn.execute(
            text(
                "UPDATE customer SET name = s.name, mobile = s.mobile, updated_at = :now"
                f" FROM {STAGE} s WHERE {ok} AND s.first_cust = 1"
                " AND customer.id_number = s.id_number AND (customer.name <> s.name"
                " OR customer.mobile IS NULL OR customer.mobile <> s.mobile)"
            ),
            p,
        )
        conn.execute(
            text(
                cust_cols + " AND NOT EXISTS (SELECT 1 FROM customer c"
                " WHERE c.id_number = s.id_number)"
            ),
            p,
        )
    else:
        conn.execute(
            text(
                cust_cols
                + order_cust
                + " ON CONFLICT (id_number) DO UPDATE SET name = excluded.name,"
                " mobile = excluded.mobile, updated_at = :now"
                " WHERE customer.name <> excluded.name OR customer.mobile IS NULL"
                " OR customer.mobile <> excluded.mobile"
            ),
            p,
        )
    changed = conn.execute(
        text(
            "INSERT INTO offer_history (offer_id, event, version, old_limit, new_limit, old_rate,"
            " new_rate, old_expiry, new_expiry, old_status, new_status, import_id, at)"
            " SELECT o.id, 'changed', o.version + 1, o.limit_amount, s.limit_amount, o.rate,"
            " s.rate, o.expiry_date, s.expiry_date, o.status, CASE WHEN o.status IN"
            " ('expired', 'revoked') THEN 'pending' ELSE o.status END, :imp, :now"
            f" {join_offer} WHERE {ok} AND s.action = 'U' AND {differs}"
        ),
        p,
    ).rowcount
    offer_cols = (
        "INSERT INTO offer (customer_id, product_id, branch_id, institution_id, manager_id,"
        " limit_amount, rate, expiry_date, status, version, synced_version, import_id,"
        " created_at, updated_at) SELECT c.id, s.product_id, s.branch_id, s.institution_id,"
        " c.manager_id, s.limit_amount, s.rate, s.expiry_date, 'pending', 1, 0, :imp,"
        f" :now, :now FROM {STAGE} s JOIN customer c ON c.id_number = s.id_number"
        f" WHERE {ok} AND s.action = 'U'"
    )
    if locked:
        upserted = conn.execute(
            text(
                "UPDATE offer SET limit_amount = s.limit_amount, rate = s.rate,"
                " expiry_date = s.expiry_date, branch_id = s.branch_id,"
                " status = CASE WHEN offer.status IN ('expired', 'revoked') THEN 'pending'"
                " ELSE offer.status END, version = offer.version + 1, import_id = :imp,"
                f" updated_at = :now FROM {STAGE} s JOIN customer c ON c.id_number = s.id_number"
                f" WHERE {ok} AND s.action = 'U' AND offer.customer_id = c.id"
                " AND offer.product_id = s.product_id AND offer.status <> 'applied'"
                " AND (offer.limit_amount <> s.limit_amount OR offer.rate <> s.rate"
                " OR offer.expiry_date <> s.expiry_date OR offer.status IN ('expired', 'revoked'))"
            ),
            p,
        ).rowcount
        upserted += conn.execute(
            text(
                offer_cols + " AND NOT EXISTS (SELECT 1 FROM offer o WHERE o.customer_id = c.id"
                " AND o.product_id = s.product_id)"
            ),
            p,
        ).rowcount
    else:
        upserted = conn.execute(
            text(
                offer_cols + order_offer + " ON CONFLICT (customer_id, product_id) DO UPDATE SET"
                " limit_amount = excluded.limit_amount, rate = excluded.rate,"
                " expiry_date = excluded.expiry_date, branch_id = excluded.branch_id,"
                " status = CASE WHEN offer.status IN ('expired', 'revoked') THEN 'pending'"
                " ELSE offer.status END, version = offer.version + 1,"
                " import_id = excluded.import_id, updated_at = excluded.updated_at"
                " WHERE offer.status <> 'applied' AND (offer.limit_amount <> excluded.limit_amount"
                " OR offer.rate <> excluded.rate OR offer.expiry_date <> excluded.expiry_date"
                " OR offer.status IN ('expired', 'revoked'))"
            ),
            p,
        ).rowcount
    revoked = conn.execute(
        text(
            "INSERT INTO offer_history (offer_id, event, version, old_limit, old_rate,"
            " old_expiry, old_status, new_status, import_id, at)"
            " SELECT o.id, 'revoked', o.version + 1, o.limit_amount, o.rate, o.expiry_date,"
            f" o.status, 'revoked', :imp, :now {join_offer}"
            f" WHERE {ok} AND s.action = 'R' AND o.status IN ('pending', 'active')"
        ),
        p,
    ).rowcount
    if revoked:
        conn.execute(
            text(
                "UPDATE offer SET status = 'revoked', version = version + 1, import_id = :imp,"
                " updated_at = :now WHERE status IN ('pending', 'active') AND id IN"
                f" (SELECT o.id {join_offer} WHERE {ok} AND s.action = 'R')"
            ),
            p,
        )
    upserts = conn.execute(
        text(f"SELECT count(*) FROM {STAGE} s WHERE {ok} AND s.action = 'U'")
    ).scalar_one()
    created = upserted - changed
    return {
        "customers_created": new_customers,
        "offers_created": created,
        "offers_changed": changed,
        "offers_unchanged": upserts - created - changed,
        "offers_revoked": revoked,
    }
