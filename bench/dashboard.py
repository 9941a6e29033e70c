"""Benchmark: role dashboards over pre-aggregated tables at the seed's scale.

    python -m bench.dashboard [--customers 8500000] [--applications 2000000]

Builds a fresh PostgreSQL database (BENCH_PG_URL) with the demo org tree widened to 200
branches, then generates in SQL (generate_series, no ORM) the customers, offers,
applications with their event histories over a year and marketing SMS; rebuilds the
summary tables; times the naive GROUP BY over the raw tables that they replace; then
requests every dashboard page (all its charts) as its role and reports p95. Last line,
JSON: dashboard_p95_ms per dashboard, naive_group_by_ms, rebuild_s, refresh_s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.support import login, pg_url, seeded_app, timed_sql

PG_URL = pg_url("portal_dash_bench")
EXTRA_BRANCHES = 188
PAGES = [
    ("branch", "branch_mgr1"),
    ("org", "admin"),
    ("org", "inst_admin"),
    ("approver", "approver1"),
    ("manager", "manager1"),
]
# outcome by g % 10: (state, steps as (action, from, to)); versions are consecutive
_S = ("submit", None, "submitted")
_A = ("assign", "submitted", "assigned")
_R = ("start_review", "assigned", "under_review")
_P = ("pass", "under_review", "review_passed")
PATHS = {
    "active": [
        _S,
        _A,
        _R,
        _P,
        ("approve", "review_passed", "approved"),
        ("disbursed", "approved", "active"),
    ],
    "rejected": [_S, _A, _R, ("reject", "under_review", "rejected")],
    "approval_rejected": [_S, _A, _R, _P, ("approval_reject", "review_passed", "rejected")],
    "in_approval": [_S, _A, _R, ("pass", "under_review", "in_approval")],
    "assigned": [_S, _A],
}
OUTCOMES = ["active"] * 5 + ["rejected"] * 2 + ["approval_rejected", "in_approval", "assigned"]


BULK_TABLES = ("customer", "offer", "application", "application_event", "sms_message")


def _drop_keys(conn) -> list[str]:
    """Drop secondary indexes and foreign keys of the bulk tables; return the DDL to restore."""
    from sqlalchemy import text

    names = ", ".join(f"'{t}'" for t in BULK_TABLES)
    fks = conn.execute(
        text(f"""
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype IN ('f', 'u') AND conrelid::regclass::text IN ({names})""")
    ).all()
    idx = conn.execute(
        text(f"""
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.tablename IN ({names}) AND i.indexname NOT LIKE '%%_pkey'
          AND i.indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype = 'u')""")
    ).all()
    restore = [f"ALTER TABLE {t} ADD CONSTRAINT {n} {d}" for t, n, d in fks if "UNIQUE" in d]
    restore += [d for _n, d in idx]
    restore += [
        f"ALTER TABLE {t} ADD CONSTRAINT {n} {d} NOT VALID" for t, n, d in fks if "FOREIGN" in d
    ]
    for t, n, _d in fks:
        conn.execute(text(f"ALTER TABLE {t} DROP CONSTRAINT {n}"))
    for n, _d in idx:
        conn.execute(text(f"DROP INDEX IF EXISTS {n}"))
    conn.commit()
    return restore


def generate(db, customers: int, applications: int) -> None:
    from sqlalchemy import text

    conn = db.session
    conn.execute(text("SET synchronous_commit = off"))
    conn.execute(text("SET maintenance_work_mem = '512MB'"))
    restore = _drop_keys(conn)
    timed_sql(
        conn,
        "branches",
        f"""
        INSERT INTO org_unit (code, name, kind, parent_id, institution_id, active)
        SELECT 'BX' || lpad(g::text, 4, '0'), '扩展网点' || g, 'branch', i.id, i.id, true
        FROM generate_series(1, {EXTRA_BRANCHES}) g
        JOIN (SELECT id, row_number() OVER (ORDER BY code) - 1 AS k FROM org_unit
              WHERE kind = 'institution') i ON i.k = g % 3""",
    )
    timed_sql(
        conn,
        "branch/manager map",
        """
        CREATE TEMP TABLE bm AS
        SELECT b.id AS branch_id, b.institution_id,
               (SELECT u.id FROM ab_user u JOIN ab_user_role ur ON ur.user_id = u.id
                JOIN ab_role r ON r.id = ur.role_id AND r.name = 'account_manager'
                WHERE u.org_unit_id = b.id ORDER BY u.id LIMIT 1) AS manager_id,
               row_number() OVER (ORDER BY b.id) - 1 AS k
        FROM org_unit b WHERE b.kind = 'branch';
        UPDATE bm SET manager_id = (SELECT min(manager_id) FROM bm x
            WHERE x.institution_id = bm.institution_id) WHERE manager_id IS NULL;
        CREATE TEMP TABLE prod AS SELECT institution_id, min(id) AS product_id FROM product
            GROUP BY institution_id;""",
    )
    timed_sql(
        conn,
        f"customers ({customers:,})",
        f"""
        INSERT INTO customer (id_number, name, mobile, branch_id, institution_id, manager_id,
                              created_at)
        SELECT '9' || lpad(g::text, 17, '0'), '客户' || g, '139' || lpad(g::text, 8, '0'),
               bm.branch_id, bm.institution_id, bm.manager_id, now()
        FROM generate_series(1, {customers}) g
        JOIN bm ON bm.k = g % (SELECT count(*) FROM bm)""",
    )
    offers = min(customers, int(applications * 1.5))
    timed_sql(
        conn,
        f"offers ({offers:,})",
        f"""
        INSERT INTO offer (customer_id, product_id, branch_id, institution_id, manager_id,
            limit_amount, rate, expiry_date, status, version, synced_version, created_at,
            updated_at)
        SELECT c.id, p.product_id, c.branch_id, c.institution_id, c.manager_id,
               10000 + (c.id % 20) * 5000, 6.5, current_date + 180,
               CASE WHEN c.id % 3 = 0 THEN 'active' ELSE 'applied' END, 1, 1,
               now() - interval '1 year', now() - interval '1 day'
        FROM customer c JOIN prod p ON p.institution_id = c.institution_id
        WHERE c.id IN (SELECT id FROM customer ORDER BY id LIMIT {offers})""",
    )
    timed_sql(
        conn,
        f"applications ({applications:,})",
        f"""
        INSERT INTO application (app_no, channel, channel_request_id, offer_id, customer_id,
            product_id, branch_id, institution_id, manager_id, amount, offer_limit, rate,
            state, version, auth_ref, auth_version, auth_signed_at, contract_ref, contract_hash,
            submitted_at, last_action_at)
        SELECT 'B' || lpad(o.rn::text, 12, '0'), 'mbank', 'R' || o.rn, o.id, o.customer_id,
               o.product_id, o.branch_id, o.institution_id, o.manager_id,
               o.limit_amount, o.limit_amount, 6.5,
               (ARRAY['active','active','active','active','active','rejected','rejected',
                      'rejected','in_approval','assigned'])[o.rn % 10 + 1],
               1, 'A', 'v1', ts, 'C', repeat('0', 64), ts, ts
        FROM (SELECT o.*, row_number() OVER (ORDER BY o.id) AS rn FROM offer o
              ORDER BY o.id LIMIT {applications}) o,
             LATERAL (SELECT now() - (o.rn % 365) * interval '1 day'
                             - (o.rn % 600) * interval '1 minute' AS ts) t""",
    )
    steps = []
    for k, outcome in enumerate(OUTCOMES):
        for v, (action, frm, to) in enumerate(PATHS[outcome], start=1):
            frm_sql = "NULL" if frm is None else f"'{frm}'"
            steps.append(f"({k}, {v}, '{action}', {frm_sql}, '{to}')")
    timed_sql(
        conn,
        "events",
        f"""
        INSERT INTO application_event (application_id, action, from_state, to_state, version,
                                       actor_kind, at)
        SELECT a.id, s.action, s.from_state, s.to_state, s.version, 'system',
               a.submitted_at + (s.version - 1) * ((a.id % 7) + 2) * interval '1 minute'
        FROM application a
        JOIN (VALUES {", ".join(steps)}) AS s(k, version, action, from_state, to_state)
          ON s.k = (substr(a.app_no, 2)::bigint % 10)""",
    )
    timed_sql(
        conn,
        "last_action_at",
        """
        UPDATE application a SET last_action_at = e.at, version = e.version
        FROM (SELECT application_id, max(at) AS at, max(version) AS version
              FROM application_event GROUP BY application_id) e
        WHERE e.application_id = a.id AND a.state NOT IN ('active', 'rejected')""",
    )
    timed_sql(
        conn,
        "marketing SMS",
        f"""
        INSERT INTO sms_message (customer_id, mobile, category, content, state,
                                 institution_id, branch_id, created_at, sent_at)
        SELECT o.customer_id, '139', 'marketing', '营销短信', 'delivered', o.institution_id,
               o.branch_id, ts, ts
        FROM (SELECT * FROM offer ORDER BY id LIMIT {offers}) o,
             LATERAL (SELECT now() - (o.id % 365) * interval '1 day' - interval '2 day' AS ts) t""",
    )
    t = time.perf_counter()
    for ddl in restore:
        conn.execute(text(ddl))
    conn.commit()
    print(f"  indexes and keys rebuilt: {time.perf_counter() - t:.1f} s", flush=True)
    timed_sql(conn, "analyze", "ANALYZE")


NAIVE = {
    "funnel": """SELECT count(*) FILTER (WHERE e.action = 'submit'),
        count(*) FILTER (WHERE e.action = 'approve'), count(*) FILTER (WHERE e.action = 'disbursed')
        FROM application_event e JOIN application a ON a.id = e.application_id
        WHERE e.at >= now() - interval '30 day'""",
    "per_branch_day": """SELECT a.branch_id, date(e.at), count(*) FROM application_event e
        JOIN application a ON a.id = e.application_id
        WHERE e.at >= now() - interval '365 day' AND e.action IN ('submit', 'approve')
        GROUP BY 1, 2""",
    "whitelist": "SELECT branch_id, status, count(*) FROM offer GROUP BY 1, 2",
    "sla": """SELECT count(*) FILTER (WHERE e.at - a.submitted_at <= interval '15 minute'),
        count(*) FROM application_event e JOIN application a ON a.id = e.application_id
        WHERE e.action IN ('approve', 'approval_reject', 'reject')""",
}


def naive_ms(db) -> dict:
    from sqlalchemy import text

    out = {}
    for name, sql in NAIVE.items():
        t = time.perf_counter()
        db.session.execute(text(sql)).all()
        out[name] = round((time.perf_counter() - t) * 1000, 1)
    db.session.rollback()
    return out


def measure(app, rounds: int) -> dict:
    out = {}
    for kind, user in PAGES:
        client = login(app, user)
        client.get(f"/dashboard/{kind}/")  # warm
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            resp = client.get(f"/dashboard/{kind}/")
            times.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 200, (kind, user, resp.status_code)
        times.sort()
        p95 = times[max(0, int(round(0.95 * len(times))) - 1)]
        out[f"{kind}:{user}"] = round(p95, 1)
        print(f"  {kind:8} {user:12} p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=8_500_000)
    parser.add_argument("--applications", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    started = time.perf_counter()
    app = seeded_app(PG_URL, "/tmp/bench-dashboard")
    with app.app_context():
        from portal.core.extensions import db
        from portal.reports import aggregates

        print("generating data", flush=True)
        generate(db, args.customers, args.applications)
        t = time.perf_counter()
        aggregates.rebuild(db.session)
        rebuild_s = round(time.perf_counter() - t, 1)
        print(f"  aggregates rebuild: {rebuild_s} s", flush=True)
        naive = naive_ms(db)
        print(f"  naive GROUP BY over raw tables (ms): {naive}", flush=True)
        t = time.perf_counter()
        aggregates.refresh(db.session)
        refresh_s = round(time.perf_counter() - t, 2)
        print(f"  incremental refresh (overlap window): {refresh_s} s", flush=True)
        db.session.remove()
    p95 = measure(app, args.rounds)
    result = {
        "customers": args.customers,
        "applications": args.applications,
        "dashboard_p95_ms": p95,
        "naive_group_by_ms": naive,
        "rebuild_s": rebuild_s,
        "refresh_s": refresh_s,
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
