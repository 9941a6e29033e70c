"""Benchmark: whitelist import end to end (read + validate + stage + merge) at scale.

    python -m bench.whitelist_import --rows 1000000 --db postgresql
    python -m bench.whitelist_import --rows 1000000 --db sqlite

Generates (and caches) an N-row workbook in the template's format, imports it into a
fresh database as marketing1 through the real service (portal.whitelist.importing), then
measures in the same run the two limits: the raw read rate of the Excel reader
(python-calamine; the mean of a read just before and one just after the import, each in
a process of its own) and the raw bulk-load rate (PostgreSQL COPY / SQLite executemany)
on the same rows. Peak memory is the import's process and its reading process together (every
file is parsed and validated in a second process: portal.whitelist.reader), their
resident memory sampled every 10 ms; each one's own peak is printed too. The last line is JSON: rows, seconds, rows_per_s, peak_mb,
reader_rows_per_s, bulk_load_rows_per_s (and cpu_probe_ms, see bench.machine).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import MemorySampler, cpu_probe_ms
from bench.support import pg_url, reset_database, seeded_app

PG_URL = pg_url("portal_wl_bench")
BRANCHES = ["I01B01", "I01B02", "I01B03", "I01B04"]
PRODUCTS = [("XFY", 10000, 300000, 4.35, 18), ("KDB", 5000, 200000, 5, 15)]


def _generate(path: str, rows: int) -> None:
    from portal.whitelist.sample import rows as sample_rows
    from portal.whitelist.sample import write_workbook

    write_workbook(Path(path), sample_rows(rows, BRANCHES, PRODUCTS, seed=rows))


def workbook(rows: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"bench-whitelist-{rows}.xlsx"
    if not path.exists():
        t = time.monotonic()
        proc = multiprocessing.get_context("spawn").Process(
            target=_generate, args=(str(path) + ".part", rows)
        )
        proc.start()
        proc.join()
        Path(str(path) + ".part").replace(path)
        print(f"generated {path} in {time.monotonic() - t:.1f}s", file=sys.stderr)
    return path


def make_app(db: str, folder: Path):
    os.environ["PORTAL_INSTANCE_PATH"] = str(folder)
    if db == "postgresql":
        url = PG_URL
        reset_database(url, drop=True)
    else:
        url = "sqlite:///" + str(folder / "bench.db")
    return seeded_app(url, str(folder), customers=300, reset=False, REDIS_URL=None)


def import_once(app, path: Path) -> dict:
    from sqlalchemy import select

    from models.access.staff import StaffUser
    from portal.core.extensions import db
    from portal.whitelist import importing as whitelist_import

    with app.app_context():
        user = db.session.scalars(select(StaffUser).where(StaffUser.username == "marketing1")).one()
        with path.open("rb") as fh:
            imp, _ = whitelist_import.submit(
                db.session, user, fh, path.name, "valid_only", False, enqueue_job=False
            )
        t = time.monotonic()
        result = whitelist_import.run_import(imp.id)
        seconds = time.monotonic() - t
        return {"seconds": seconds, **result}


def reader_rate(path: Path) -> float:
    from python_calamine import load_workbook

    t = time.monotonic()
    n = 0
    for _row in load_workbook(str(path)).get_sheet_by_index(0).iter_rows():
        n += 1
    return n / (time.monotonic() - t)


def reader_rate_apart(path: Path) -> float:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(reader_rate, (path,))


def bulk_load_rate(app, path: Path) -> float:
    """The raw staging load on the same rows (already validated shape), chunked like the import."""
    from python_calamine import load_workbook

    from portal.core.extensions import db
    from portal.whitelist import merge
    from portal.whitelist.writer import write_rows

    rows_iter = load_workbook(str(path)).get_sheet_by_index(0).iter_rows()
    next(rows_iter)
    chunks, buf = [], []
    for i, r in enumerate(rows_iter, start=2):
        buf.append(
            (
                i,
                r[0],
                r[1],
                r[2],
                "1990-01-01",
                "M",
                1,
                1,
                1,
                f"{r[5]:.2f}",
                f"{r[6]:.4f}",
                r[7],
                "U",
                1,
            )
        )
        if len(buf) >= 20_000:
            chunks.append(buf)
            buf = []
    chunks.append(buf)
    with app.app_context(), db.engine.connect() as conn:
        trans = conn.begin()
        merge.create_stage(conn)
        t = time.monotonic()
        n = 0
        for chunk in chunks:
            write_rows(conn, merge.STAGE, merge.STAGE_COLUMNS, chunk)
            n += len(chunk)
        seconds = time.monotonic() - t
        trans.rollback()
        merge.drop_stage(conn)
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    path = workbook(args.rows)
    folder = Path(tempfile.mkdtemp(prefix="bench-wl-"))
    app = make_app(args.db, folder)
    app.config["WHITELIST_MAX_ROWS"] = max(args.rows, 1_000_000)
    # the reader's rate just before and just after the import, averaged: this machine's speed
    # drifts within minutes, and the ratio of the two rates is one of the targets
    # (each in a process of its own, so that it adds nothing to this process's peak memory)
    readers = [reader_rate_apart(path)]
    probe = [cpu_probe_ms()]
    with MemorySampler() as sampled:
        result = import_once(app, path)
    probe.append(cpu_probe_ms())
    readers.append(reader_rate_apart(path))
    from portal.core.child_process import child_peak_mb

    # every file is read in a second process: the peak is the two processes' resident
    # memory together, sampled every 10 ms during the import; the sum of each one's own peak
    # (an upper bound: the two need not peak at the same moment) is printed beside it
    own_mb, reader_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, child_peak_mb()
    peak_mb = sampled.peak_mb
    reader = sum(readers) / 2
    bulk = bulk_load_rate(app, path)
    print(f"import: {result}", file=sys.stderr)
    print(
        f"reader before/after the import: {readers[0]:,.0f} / {readers[1]:,.0f} rows/s;"
        f" end-to-end / reader = {args.rows / result['seconds'] / reader:.3f};"
        f" CPU probe before/after {probe[0]}/{probe[1]} ms;"
        f" peak MB: both processes together {sampled.peak_mb:.0f} (sampled); each one's own:"
        f" import process {own_mb:.0f} + reading process {reader_mb:.0f}"
        f" = {own_mb + reader_mb:.0f}; at the peak ({sampled.peak_at:.1f} s in): {sampled.at_peak}",
        file=sys.stderr,
    )
    out = {
        "db": args.db,
        "rows": args.rows,
        "seconds": round(result["seconds"], 2),
        "rows_per_s": round(args.rows / result["seconds"]),
        "peak_mb": round(peak_mb),
        "reader_rows_per_s": round(reader),
        "bulk_load_rows_per_s": round(bulk),
        "status": result.get("status"),
        "cpu_probe_ms": round(sum(probe) / 2, 1),  # bench.machine, around the import
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
