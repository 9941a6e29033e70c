"""Benchmark: auto-assignment's "least-loaded manager" choice against years of history.

    python -m bench.assignment [--history 1000000] [--open 20000] [--rounds 20]

Builds a fresh PostgreSQL database (BENCH_PG_URL), seeds the demo org tree and staff, then
generates in SQL (generate_series) `--history` closed applications and `--open` open ones,
spread over every branch's account managers, as a few years of operation leave them. Times
`portal.applications.assignment.least_loaded` for every branch (`--rounds` times each): what a submission
without an own manager, and each application of a bulk reassignment, pays. It also times the
former formulation (join every application of the branch's managers, group, sort) on the same
data. Last line, JSON: history, open, least_loaded_p50_ms, least_loaded_p95_ms,
join_all_p50_ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.support import pg_url, seeded_app, timed_sql

PG_URL = pg_url("portal_assign_bench")


def generate(db, history: int, open_apps: int) -> None:
    conn = db.session
    customers = 20_000
    timed_sql(conn, "session", "SET synchronous_commit = off")
    timed_sql(
        conn,
        "maps",
        """
        CREATE TEMP TABLE am AS
        SELECT u.id AS manager_id, u.org_unit_id AS branch_id, b.institution_id,
               row_number() OVER (ORDER BY u.id) - 1 AS k
        FROM ab_user u JOIN org_unit b ON b.id = u.org_unit_id
        JOIN ab_user_role ur ON ur.user_id = u.id JOIN ab_role r ON r.id = ur.role_id
        WHERE r.name = 'account_manager' AND u.active;
        CREATE TEMP TABLE prod AS SELECT institution_id, min(id) AS product_id FROM product
            GROUP BY institution_id""",
    )
    timed_sql(
        conn,
        f"customers and offers ({customers:,})",
        f"""
        INSERT INTO customer (id_number, name, mobile, branch_id, institution_id, manager_id,
            created_at)
        SELECT '8' || lpad(g::text, 17, '0'), '客户' || g, '138' || lpad(g::text, 8, '0'),
               am.branch_id, am.institution_id, am.manager_id, now()
        FROM generate_series(1, {customers}) g
        JOIN am ON am.k = g % (SELECT count(*) FROM am);
        INSERT INTO offer (customer_id, product_id, branch_id, institution_id, manager_id,
            limit_amount, rate, expiry_date, status, version, synced_version, created_at,
            updated_at)
        SELECT c.id, p.product_id, c.branch_id, c.institution_id, c.manager_id, 50000, 6.5,
               current_date + 180, 'applied', 1, 1, now(), now()
        FROM customer c JOIN prod p ON p.institution_id = c.institution_id
        WHERE c.id_number LIKE '8%'""",
    )
    timed_sql(
        conn,
        f"applications ({history:,} closed, {open_apps:,} open)",
        f"""
        INSERT INTO application (app_no, channel, channel_request_id, offer_id, customer_id,
            product_id, branch_id, institution_id, manager_id, amount, offer_limit, rate, state,
            version, auth_ref, auth_version, auth_signed_at, contract_ref, contract_hash,
            submitted_at, assigned_at, last_action_at, closed_at)
        SELECT 'B' || lpad(g::text, 12, '0'), 'mbank', 'B' || g, o.id, o.customer_id,
               o.product_id, o.branch_id, o.institution_id, o.manager_id, 20000, 50000, 6.5,
               CASE WHEN g <= {open_apps} THEN 'under_review'
                    ELSE (ARRAY['active', 'rejected', 'withdrawn', 'expired'])[g % 4 + 1] END,
               3, 'A', 'v1', ts, 'C', repeat('0', 64), ts, ts, ts,
               CASE WHEN g <= {open_apps} THEN NULL ELSE ts END
        FROM generate_series(1, {history + open_apps}) g
        JOIN (SELECT o.*, row_number() OVER (ORDER BY o.id) - 1 AS k FROM offer o
              WHERE o.manager_id IS NOT NULL) o ON o.k = g % {customers},
        LATERAL (SELECT now() - (g % 1000) * interval '1 day' - (g % 1440) * interval '1 minute'
                 AS ts) t""",
    )
    conn.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        from sqlalchemy import text

        c.execute(text("VACUUM ANALYZE application"))


JOIN_ALL = """
SELECT m.id, count(a.id) FILTER (WHERE a.state = ANY(:open)) AS n, max(a.assigned_at)
FROM ab_user m JOIN ab_user_role ur ON ur.user_id = m.id JOIN ab_role r ON r.id = ur.role_id
LEFT JOIN application a ON a.manager_id = m.id
WHERE m.org_unit_id = :branch AND m.active AND r.name = 'account_manager'
GROUP BY m.id ORDER BY n, coalesce(max(a.assigned_at), '1970-01-01'), m.id LIMIT 1"""


def measure(db, rounds: int) -> dict:
    from sqlalchemy import select, text

    from models.access.org import OrgUnit
    from portal.applications import assignment, lifecycle

    s = db.session
    branches = s.scalars(select(OrgUnit.id).where(OrgUnit.kind == "branch")).all()
    ours, join_all = [], []
    for _ in range(rounds):
        for b in branches:
            t = time.perf_counter()
            assignment.least_loaded(s, b)
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            s.execute(text(JOIN_ALL), {"branch": b, "open": list(lifecycle.OPEN_STATES)}).first()
            join_all.append((time.perf_counter() - t) * 1000)
        s.rollback()
    ours.sort()
    return {
        "least_loaded_p50_ms": round(statistics.median(ours), 2),
        "least_loaded_p95_ms": round(ours[int(0.95 * (len(ours) - 1))], 2),
        "join_all_p50_ms": round(statistics.median(join_all), 2),
        "calls": len(ours),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    app = seeded_app(PG_URL, "/tmp/bench-assignment")
    with app.app_context():
        from portal.core.extensions import db

        print("generating data", flush=True)
        generate(db, args.history, args.open)
        figures = measure(db, args.rounds)
    print(f"least_loaded over {figures.pop('calls')} calls: {figures}")
    print(json.dumps({"history": args.history, "open": args.open, **figures}))


if __name__ == "__main__":
    main()
