"""Benchmark: the approval queue page and the claim action at scale, on PostgreSQL.

    python -m bench.queues [--applications 2000000] [--open 200000] [--rounds 60]

Builds a fresh PostgreSQL database (BENCH_PG_URL), seeds the demo org tree and staff,
then generates in SQL (generate_series, no ORM) the customers, offers and applications
and the open approval cases spread over every branch, institution and the central
queue. Requests the queue page as approver1 (page 0 and deep keyset pages) and the
claim action ("领取下一笔", SELECT … FOR UPDATE SKIP LOCKED) through the Flask app, and
times in the same run the plain COUNT(*) + OFFSET pagination the queue avoids.
Last line, JSON: queue_p50_ms, queue_p95_ms, claim_p95_ms, naive_page_ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.support import login, pg_url, seeded_app, timed_sql

PG_URL = pg_url("portal_queue_bench")


def generate(db, applications: int, open_cases: int) -> None:
    from portal.approvals import policy as approval_policy

    conn = db.session
    policy_id = approval_policy.default_policy(conn).id
    conn.commit()
    customers = max(applications // 10, 1000)
    timed_sql(conn, "session", "SET synchronous_commit = off")
    timed_sql(
        conn,
        "maps",
        """
        CREATE TEMP TABLE bm AS SELECT b.id AS branch_id, b.institution_id,
            row_number() OVER (ORDER BY b.id) - 1 AS k FROM org_unit b WHERE b.kind = 'branch';
        CREATE TEMP TABLE prod AS SELECT institution_id, min(id) AS product_id FROM product
            GROUP BY institution_id;
        CREATE TEMP TABLE nodes AS SELECT id AS node_id, kind,
            row_number() OVER (ORDER BY id) - 1 AS k FROM org_unit""",
    )
    timed_sql(
        conn,
        f"customers ({customers:,})",
        f"""
        INSERT INTO customer (id_number, name, mobile, branch_id, institution_id, created_at)
        SELECT '9' || lpad(g::text, 17, '0'), '客户' || g, '139' || lpad(g::text, 8, '0'),
               bm.branch_id, bm.institution_id, now()
        FROM generate_series(1, {customers}) g JOIN bm ON bm.k = g % (SELECT count(*) FROM bm)""",
    )
    timed_sql(
        conn,
        f"offers ({customers:,})",
        """
        INSERT INTO offer (customer_id, product_id, branch_id, institution_id, limit_amount, rate,
            expiry_date, status, version, synced_version, created_at, updated_at)
        SELECT c.id, p.product_id, c.branch_id, c.institution_id, 50000, 6.5,
               current_date + 180, 'applied', 1, 1, now(), now()
        FROM customer c JOIN prod p ON p.institution_id = c.institution_id
        WHERE c.id_number LIKE '9%'""",
    )
    timed_sql(
        conn,
        f"applications ({applications:,})",
        f"""
        INSERT INTO application (app_no, channel, channel_request_id, offer_id, customer_id,
            product_id, branch_id, institution_id, amount, offer_limit, rate, state, version,
            auth_ref, auth_version, auth_signed_at, contract_ref, contract_hash, submitted_at,
            last_action_at)
        SELECT 'Q' || lpad(g::text, 12, '0'), 'mbank', 'R' || g, o.id, o.customer_id,
               o.product_id, o.branch_id, o.institution_id, 1000 + g % 49000, 50000, 6.5,
               CASE WHEN g <= {open_cases} THEN 'in_approval' ELSE 'active' END, 1, 'A', 'v1',
               ts, 'C', repeat('0', 64), ts, ts
        FROM generate_series(1, {applications}) g
        JOIN (SELECT o.*, row_number() OVER (ORDER BY o.id) - 1 AS k FROM offer o) o
          ON o.k = g % {customers},
        LATERAL (SELECT now() - (g % 20000) * interval '1 minute' AS ts) t""",
    )
    # queue where it lives: half at the branch, a quarter at the institution, a quarter central
    timed_sql(
        conn,
        f"open approval cases ({open_cases:,})",
        f"""
        INSERT INTO approval_case (subject, subject_id, ref_no, policy_id, band_index,
            step_index, step_count, queue_level, queue_node_id, step_role, step_limit,
            institution_id, branch_id, product_id, customer_id, amount, state, opened_at,
            step_opened_at, version)
        SELECT 'application', a.id, a.app_no, {policy_id}, 0, 0, 1, lvl.level,
               CASE lvl.level WHEN 'branch' THEN a.branch_id
                    WHEN 'institution' THEN a.institution_id
                    ELSE (SELECT id FROM org_unit WHERE kind = 'province') END,
               'approver', 99999999, a.institution_id, a.branch_id, a.product_id,
               a.customer_id, a.amount, 'open', a.submitted_at, a.submitted_at, 1
        FROM application a,
        LATERAL (SELECT (ARRAY['branch','branch','institution','central'])[a.id % 4 + 1]
                 AS level) lvl
        WHERE a.state = 'in_approval'""",
    )
    conn.commit()
    t = time.perf_counter()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        from sqlalchemy import text

        # what autovacuum does on a live system after a bulk load: statistics and the
        # visibility map (index-only scans)
        c.execute(text("VACUUM ANALYZE approval_case"))
        c.execute(text("ANALYZE"))
    print(f"  vacuum analyze: {time.perf_counter() - t:.1f} s", flush=True)


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[max(0, int(round(p * len(values))) - 1)]


def naive_ms(db, user) -> dict:
    """The plain list-view way: COUNT(*) of everything, then OFFSET to the page."""
    from sqlalchemy import text

    s = db.session
    out = {}
    for label, count_sql, page_sql in (
        (
            "applications",
            "SELECT count(*) FROM application",
            "SELECT * FROM application ORDER BY id DESC OFFSET 1000000 LIMIT 20",
        ),
        (
            "queue",
            f"SELECT count(*) FROM approval_case WHERE state = 'open' "
            f"AND queue_node_id = {user.org_unit_id}",
            f"SELECT * FROM approval_case WHERE state = 'open' AND queue_node_id = "
            f"{user.org_unit_id} ORDER BY step_opened_at, id OFFSET 20000 LIMIT 20",
        ),
    ):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            s.execute(text(count_sql)).scalar()
            s.execute(text(page_sql)).all()
            times.append((time.perf_counter() - t) * 1000)
        out[label] = round(statistics.median(times), 1)
    s.rollback()
    return out


def measure(app, rounds: int) -> dict:
    from sqlalchemy import select

    from models.access.staff import StaffUser
    from models.approvals import ApprovalCase
    from portal.core.extensions import db

    client = login(app, "approver1")
    with app.app_context():
        u = db.session.scalar(select(StaffUser).where(StaffUser.username == "approver1"))
        deep = db.session.execute(
            select(ApprovalCase.step_opened_at, ApprovalCase.id)
            .where(ApprovalCase.state == "open", ApprovalCase.queue_node_id == u.org_unit_id)
            .order_by(ApprovalCase.step_opened_at, ApprovalCase.id)
            .offset(20000)
            .limit(1)
        ).first()
        open_in_queue = db.session.scalar(
            select(ApprovalCase.id).where(ApprovalCase.queue_node_id == u.org_unit_id).limit(1)
        )
        db.session.remove()
    urls = ["/approvals/"]
    if deep:
        urls.append(f"/approvals/?after_at={deep[0].isoformat()}&after_id={deep[1]}")
    for url in urls:
        assert client.get(url).status_code == 200  # warm
    queue, claim = [], []
    for i in range(rounds):
        url = urls[i % len(urls)]
        t = time.perf_counter()
        resp = client.get(url)
        queue.append((time.perf_counter() - t) * 1000)
        assert resp.status_code == 200, resp.status_code
    for _ in range(rounds):
        t = time.perf_counter()
        resp = client.post("/approvals/claim_next")
        claim.append((time.perf_counter() - t) * 1000)
        assert resp.status_code == 302 and "/approvals/case/" in resp.headers["Location"]
    assert open_in_queue
    return {
        "queue_p50_ms": round(statistics.median(queue), 1),
        "queue_p95_ms": round(_pct(queue, 0.95), 1),
        "claim_p50_ms": round(statistics.median(claim), 1),
        "claim_p95_ms": round(_pct(claim, 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=2_000_000)
    parser.add_argument("--open", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    started = time.perf_counter()
    app = seeded_app(PG_URL, "/tmp/bench-queues")
    with app.app_context():
        from sqlalchemy import select

        from models.access.staff import StaffUser
        from portal.core.extensions import db

        print("generating data", flush=True)
        generate(db, args.applications, args.open)
        approver = db.session.scalar(select(StaffUser).where(StaffUser.username == "approver1"))
        naive = naive_ms(db, approver)
        print(f"  plain COUNT(*) + OFFSET page (ms): {naive}", flush=True)
        db.session.remove()
    figures = measure(app, args.rounds)
    print(f"  queue page p50 {figures['queue_p50_ms']} ms  p95 {figures['queue_p95_ms']} ms")
    print(f"  claim      p50 {figures['claim_p50_ms']} ms  p95 {figures['claim_p95_ms']} ms")
    result = {
        "applications": args.applications,
        "open_cases": args.open,
        **figures,
        "naive_page_ms": naive["applications"],
        "naive_queue_page_ms": naive["queue"],
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
