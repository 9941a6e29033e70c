"""Database helpers for tests: table fingerprints."""

from __future__ import annotations

import hashlib

from sqlalchemy import inspect, text

# tables whose rows must be identical before and after the whole matrix run
UNTOUCHED_EXCEPT = {"audit_log", "alembic_version"}


# columns a login or logout itself updates (logout raises the session epoch)
LOGIN_BOOKKEEPING = {
    "ab_user": {"last_login", "login_count", "fail_login_count", "session_epoch", "locked_until"}
}


def table_fingerprints(app) -> dict[str, str]:
    """A hash of every row of every table (the append-only audit log aside).

    Opens its own short app context: requests must not run inside a long-lived one
    (the `db` fixture's), or they share `g` and with it Flask-Login's current user.
    """
    from portal.core.extensions import db

    out = {}
    with app.app_context(), db.engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            if table in UNTOUCHED_EXCEPT:
                continue
            skip = LOGIN_BOOKKEEPING.get(table, set())
            cols = [c["name"] for c in inspect(conn).get_columns(table) if c["name"] not in skip]
            select = ", ".join(f'"{c}"' for c in cols)
            result = conn.execute(text(f'SELECT {select} FROM "{table}"'))
            digest = hashlib.sha256()
            for row in sorted(repr(tuple(r)) for r in result):
                digest.update(row.encode())
            out[table] = digest.hexdigest()
    return out
