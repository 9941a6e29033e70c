"""Whitelist import (白名单导入): accept a file, then validate, stage and merge it in a job.

`submit()` runs in the request: it stores the upload, refuses unsafe files (sheets that
reach too far included) and re-uploads of an already imported file (same SHA-256),
records the batch and enqueues `jobs.whitelist.run_import(id)`. `run_import()` takes the
validated rows of the sheet from `portal.whitelist.reader` (in a memory-capped reading
process), writes them as they come (new customers directly, the rest into staging),
applies the database rules, and — unless this is a dry run, an all-or-nothing import with
errors, or no row passed — merges in the same single transaction. Progress lives in Redis;
the running import holds a lease on its row (portal.whitelist.lease).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import logging
import time
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.whitelist import IMPORT_DONE_STATES, Product, WhitelistImport
from portal.access import audit
from portal.access.scoping import Scope, apply_scope, scope_for
from portal.core.child_process import ReaderFailed
from portal.core.extensions import db
from portal.core.upload_safety import UnsafeFile, check_spreadsheet, workbook_limits
from portal.whitelist import merge, reader
from portal.whitelist.lease import held
from portal.whitelist.progress import set_progress
from portal.whitelist.reader import ImportRejected
from portal.whitelist.rows import Context, ProductRule
from portal.whitelist.workbook import template_bytes, write_error_report
from portal.whitelist.writer import ChunkWriter, customer_numbers

log = logging.getLogger(__name__)
CHUNK = 20_000


def import_dir() -> Path:
    folder = current_app.config.get("WHITELIST_IMPORT_DIR") or (
        Path(current_app.instance_path) / "imports"
    )
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def committed_with_hash(session, file_hash: str) -> WhitelistImport | None:
    return session.scalars(
        select(WhitelistImport).where(
            WhitelistImport.file_hash == file_hash,
            WhitelistImport.status == "committed",
            WhitelistImport.dry_run.is_(False),
        )
    ).first()


def submit(
    session, user, stream, file_name: str, mode: str, dry_run: bool, enqueue_job: bool = True
):
    """Store and check the upload, record the batch, enqueue it; (batch, message)."""
    if mode not in ("all_or_nothing", "valid_only"):
        raise ImportRejected("请选择导入方式")
    folder = import_dir()
    tmp = folder / f"upload-{time.time_ns()}.part"
    digest, size = hashlib.sha256(), 0
    limit = current_app.config["WHITELIST_MAX_BYTES"]
    with tmp.open("wb") as out:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > limit:
                out.close()
                tmp.unlink(missing_ok=True)
                raise UnsafeFile(f"文件过大，上限 {limit / 1048576:.0f} MB")
            digest.update(chunk)
            out.write(chunk)
    try:
        kind = check_spreadsheet(tmp, max_rows=current_app.config["WHITELIST_MAX_ROWS"])
    except UnsafeFile:
        tmp.unlink(missing_ok=True)
        raise
    file_hash = digest.hexdigest()
    if not dry_run:
        earlier = committed_with_hash(session, file_hash)
        if earlier is not None:
            tmp.unlink(missing_ok=True)
            return earlier, (
                f"该文件已于 {earlier.finished_at:%Y-%m-%d %H:%M} 导入（批次 #{earlier.id}），"
                "内容相同，本次未做任何更改"
            )
    stored = folder / f"{file_hash}.{kind}"
    tmp.replace(stored)
    imp = WhitelistImport(
        file_name=(file_name or f"whitelist.{kind}")[:200],
        file_hash=file_hash,
        file_size=size,
        stored_path=str(stored),
        mode=mode,
        dry_run=dry_run,
        status="queued",
        uploaded_by_id=user.id,
        institution_id=getattr(user, "institution_id", None),
    )
    session.add(imp)
    session.flush()
    audit.record(
        session,
        "import",
        "whitelist_import",
        imp.id,
        {"file": imp.file_name, "rows": None, "dry_run": dry_run, "mode": mode},
    )
    session.commit()
    set_progress(imp.id, phase="queued", done=0, total=0)
    if enqueue_job:
        enqueue(imp.id)
    return imp, "文件已上传，正在后台校验" + ("（试运行，不入库）" if dry_run else "并导入")


def enqueue(import_id: int) -> None:
    from portal.background.rq_queues import get_queue

    get_queue("batch").enqueue(
        "jobs.whitelist.run_import", args=(import_id,), job_timeout=3600, result_ttl=3600
    )


def template_for(session, scope: Scope) -> bytes:
    """The import template with the branches and products of the user's scope."""
    stmt = select(OrgUnit.code, OrgUnit.name, OrgUnit.institution_id).where(
        OrgUnit.kind == "branch", OrgUnit.active.is_(True)
    )
    branches = session.execute(apply_scope(stmt, OrgUnit, scope).order_by(OrgUnit.code)).all()
    insts = {b.institution_id for b in branches}
    products = session.execute(
        select(Product.code, Product.name)
        .where(Product.active.is_(True), Product.institution_id.in_(insts))
        .distinct()
        .order_by(Product.code)
    ).all()
    return template_bytes([(b.code, b.name) for b in branches], [tuple(p) for p in products])


def load_context(session, scope: Scope, today: dt.date) -> Context:
    stmt = select(OrgUnit.code, OrgUnit.id, OrgUnit.institution_id).where(
        OrgUnit.kind == "branch", OrgUnit.active.is_(True)
    )
    branches = {
        code: (bid, inst) for code, bid, inst in session.execute(apply_scope(stmt, OrgUnit, scope))
    }
    all_codes = set(session.scalars(select(OrgUnit.code).where(OrgUnit.kind == "branch")))
    insts = {inst for _b, inst in branches.values()}
    products = {
        (p.institution_id, p.code.upper()): ProductRule(
            p.id,
            p.code,
            float(p.limit_min),
            float(p.limit_max),
            float(p.rate_min),
            float(p.rate_max),
            p.validity_days,
        )
        for p in session.scalars(
            select(Product).where(Product.active.is_(True), Product.institution_id.in_(insts))
        )
    }
    return Context(branches, all_codes, products, today)


def run_import(import_id: int) -> dict:
    """The job: validate → stage → database rules → merge, in one transaction."""
    session = db.session
    imp = session.get(WhitelistImport, import_id)
    if imp is None or imp.status in IMPORT_DONE_STATES:
        return {"skipped": True}
    now = dt.datetime.now()
    imp.status, imp.started_at, imp.heartbeat_at, imp.message = "running", now, now, None
    session.commit()
    started = time.monotonic()
    try:
        with held(import_id):
            figures = _process(session, imp, started)
    except (ImportRejected, UnsafeFile) as exc:
        session.rollback()
        imp.status, imp.message = "rejected", str(exc)
        figures = {}
    except Exception as exc:
        session.rollback()
        imp.status = "failed"
        imp.message = (
            str(exc)
            if isinstance(exc, ReaderFailed)
            else f"执行失败，未写入任何数据：{type(exc).__name__}"
        )
        imp.finished_at = dt.datetime.now()
        session.commit()
        set_progress(import_id, phase="failed", message=imp.message)
        raise
    imp.finished_at = dt.datetime.now()
    imp.seconds = round(time.monotonic() - started, 2)
    session.commit()
    set_progress(import_id, phase="finished", status=imp.status, message=imp.message or "")
    return {"status": imp.status, **figures}


def _process(session, imp: WhitelistImport, started: float) -> dict:
    path = Path(imp.stored_path or "")
    if not path.exists():
        raise ImportRejected("上传的文件已不存在，请重新上传")
    check_spreadsheet(path)
    if not imp.dry_run and committed_with_hash(session, imp.file_hash):
        imp.status = "duplicate"
        imp.message = "内容相同的文件已导入过，本次未做任何更改"
        return {}
    user = session.get(StaffUser, imp.uploaded_by_id)
    scope = scope_for(user)
    ctx = load_context(session, scope, dt.date.today())
    session.commit()  # release read locks before the long transaction
    cfg = current_app.config
    cap = cfg["WHITELIST_MAX_ROWS"]
    stream = reader.messages(
        path,
        ctx,
        workbook_limits(cap),
        cfg["WORKBOOK_HEADER_SCAN_ROWS"],
        cap,
        cfg["WHITELIST_ERROR_REPORT_MAX"],
        CHUNK,
        cfg["WORKBOOK_READER_MAX_MEMORY_MB"],
    )
    with contextlib.closing(stream):  # the reading process is stopped whatever happens
        # the sheet is parsed before the first message (extent, header and row cap checked)
        total = next(stream)[1]
        return _load(imp, stream, total, started)


def _load(imp: WhitelistImport, stream, total: int, started: float) -> dict:
    errors: list[tuple[int, list, dict]] = []
    n_rows = n_err = 0
    set_progress(imp.id, phase="validating", done=0, total=total, started=time.time())
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            merge.create_stage(conn)
            bulk = None if imp.dry_run else merge.prepare(conn, total, imp.id)
            # bulk mode: the customers on file before this import, read once (ChunkWriter)
            existing = customer_numbers(conn) if bulk is not None else None
            writer = ChunkWriter(conn, imp.id, dt.datetime.now(), not imp.dry_run, existing)
            # a million rows make a few million short-lived containers and no cycles: the
            # cyclic GC would scan the growing set of live ones again and again (~10 % of
            # the loop); it is back on as soon as the rows are read
            with writer, _gc_paused():
                for msg in stream:
                    _kind, staged, errs, n_rows, n_err = msg
                    writer.put(staged)
                    errors.extend(errs)
                    set_progress(imp.id, done=n_rows)
            set_progress(imp.id, phase="merging", done=n_rows)
            merge.restore_keys(conn, bulk)
            direct = writer.figures
            n_err += direct["error_rows"] + merge.apply_db_rules(conn)
            db_errs = [
                (r[0], [*r[1:9], "撤销" if r[9] == "R" else "授信"], {0: r[10]})
                for r in merge.db_errors(conn)
            ]
            figures = {"total_rows": n_rows, "error_rows": n_err, "valid_rows": n_rows - n_err}
            if n_rows == 0:
                raise ImportRejected("文件中没有数据行")
            if imp.dry_run:
                trans.rollback()
                imp.status = "validated"
                imp.message = f"试运行完成：共 {n_rows:,} 行，正确 {n_rows - n_err:,} 行，错误 {n_err:,} 行；未写入任何数据"
            elif n_err and imp.mode == "all_or_nothing":
                trans.rollback()
                imp.status = "rejected"
                imp.message = f"有 {n_err:,} 行错误，按“全部成功才导入”未导入任何数据；请下载错误报告修改后重新上传"
            elif n_err >= n_rows:
                trans.rollback()
                imp.status = "none_valid"
                imp.message = (
                    f"全部 {n_rows:,} 行均未通过校验，未导入任何数据；请下载错误报告修改后重新上传"
                )
            else:
                figures.update(merge.merge(conn, imp.id, dt.datetime.now(), bulk))
                figures["customers_created"] += direct["customers_created"]
                figures["offers_created"] += direct["offers_created"]
                delay = current_app.config.get("WHITELIST_TEST_COMMIT_DELAY") or 0
                if delay:
                    time.sleep(delay)
                trans.commit()
                imp.status = "committed"
                imp.message = (
                    f"已导入：新增额度 {figures['offers_created']:,}，变更 {figures['offers_changed']:,}，"
                    f"未变 {figures['offers_unchanged']:,}，撤销 {figures['offers_revoked']:,}；"
                    f"新建客户 {figures['customers_created']:,}；错误 {n_err:,} 行"
                )
        except BaseException:
            if trans.is_active:
                trans.rollback()
            raise
        finally:
            merge.drop_stage(conn)
    for key, value in figures.items():
        setattr(imp, key, value)
    if errors or db_errs:
        report = import_dir() / "reports" / f"errors-{imp.id}.xlsx"
        write_error_report(report, sorted(errors + db_errs, key=lambda e: e[0]))
        imp.error_report = str(report)
    log.info("whitelist import %s: %s in %.1fs", imp.id, figures, time.monotonic() - started)
    return figures


@contextlib.contextmanager
def _gc_paused():
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
