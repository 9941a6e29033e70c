"""Daily export files for the data warehouse (ODS): one gzip'd UTF-8 CSV per data set, a
manifest with row counts and SHA-256 checksums, written last so a reader never sees half a day.

Idempotent per business date: a day whose manifest exists and verifies is not written
again (``force=True`` rewrites it); gzip headers carry no timestamp, so the same rows give
the same bytes. Other domains add their data sets to EXPORTS (whitelist, credit lines,
applications: portal/reports/ods_datasets.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

from flask import current_app
from sqlalchemy import Select, select

from models.customers import Customer
from models.sms.messages import SmsMessage
from portal.core.extensions import db

EXPORTS: dict[str, Callable[[dt.date], Select]] = {
    "customer": lambda day: select(
        Customer.id,
        Customer.id_number,
        Customer.name,
        Customer.mobile,
        Customer.branch_id,
        Customer.institution_id,
        Customer.manager_id,
    ).order_by(Customer.id),
    "sms_message": lambda day: (
        select(
            SmsMessage.id,
            SmsMessage.customer_id,
            SmsMessage.template_code,
            SmsMessage.category,
            SmsMessage.state,
            SmsMessage.created_at,
            SmsMessage.sent_at,
            SmsMessage.delivered_at,
        )
        .where(
            SmsMessage.created_at >= dt.datetime.combine(day, dt.time()),
            SmsMessage.created_at < dt.datetime.combine(day + dt.timedelta(days=1), dt.time()),
        )
        .order_by(SmsMessage.id)
    ),
}


def _all_exports() -> dict[str, Callable[[dt.date], Select]]:
    from portal.reports.ods_datasets import DATASETS

    return {**EXPORTS, **DATASETS}


def export_day(day: dt.date, force: bool = False) -> Path:
    """Write the files for business date `day` (once); returns the day's folder."""
    folder = Path(current_app.config["DW_EXPORT_DIR"]) / day.strftime("%Y%m%d")
    if not force and (folder / "manifest.json").exists() and not verify(folder):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, query in _all_exports().items():
        path = folder / f"{name}_{day:%Y%m%d}.csv.gz"
        tmp = path.with_suffix(".tmp")
        digest, rows = hashlib.sha256(), 0
        result = db.session.execute(query(day))
        with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            fh = io.TextIOWrapper(gz, encoding="utf-8", newline="")
            writer = csv.writer(fh)
            writer.writerow(result.keys())
            for row in result:
                writer.writerow(["" if v is None else v for v in row])
                rows += 1
            fh.flush()
            fh.detach()
        data = tmp.read_bytes()
        digest.update(data)
        os.replace(tmp, path)
        files.append(
            {"name": path.name, "rows": rows, "bytes": len(data), "sha256": digest.hexdigest()}
        )
    manifest = {
        "business_date": day.isoformat(),
        "generated_at": dt.datetime.now().isoformat(),
        "format": "csv, utf-8, gzip",
        "files": files,
    }
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
    os.replace(tmp, folder / "manifest.json")
    _audit(day, files)
    return folder


def _audit(day: dt.date, files: list[dict]) -> None:
    from portal.access import audit

    detail = {"business_date": day.isoformat(), "rows": {f["name"]: f["rows"] for f in files}}
    audit.record(db.session, "export", "ods_daily", day.isoformat(), detail)
    db.session.commit()


def verify(folder: Path) -> list[str]:
    """Problems with a day's export (missing file, wrong checksum); empty when intact."""
    manifest = json.loads((folder / "manifest.json").read_text())
    out = []
    for f in manifest["files"]:
        path = folder / f["name"]
        if not path.exists():
            out.append(f"missing {f['name']}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != f["sha256"]:
            out.append(f"checksum mismatch {f['name']}")
    return out


def export_for_slot(slot: dt.datetime) -> str:
    """Scheduled at 01:30: export the previous business date."""
    day = slot.date() - dt.timedelta(days=1)
    return str(export_day(day))
