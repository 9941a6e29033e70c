"""Products (产品) and the blacklist (黑名单): rules for admin edits and the blacklist import."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import insert, select

from models.whitelist import BlacklistEntry, Product
from portal.access import audit
from portal.access.scoping import LEVEL_ALL, Scope
from portal.core.child_process import ReaderFailed
from portal.core.identity import IdentityError, parse_resident_id
from portal.core.text_input import clean_text
from portal.core.upload_safety import check_spreadsheet, workbook_limits
from portal.core.workbook_extent import WorkbookRejected
from portal.whitelist import blacklist_reader

BLACKLIST_MAX_ROWS = 200_000


def check(item: Product, scope: Scope) -> None:
    """Bounds make sense and the product belongs to an institution inside the scope."""
    if scope.level != LEVEL_ALL:
        item.institution_id = scope.institution_id
    if not item.institution_id and item.institution is None:
        raise ValueError("请选择产品所属法人机构")
    zero = Decimal(0)
    if item.limit_min is None or item.limit_max is None or item.limit_min <= zero:
        raise ValueError("最低额度须大于 0")
    if item.limit_min > item.limit_max:
        raise ValueError("最低额度不能高于最高额度")
    if item.rate_min is None or item.rate_max is None or item.rate_min <= zero:
        raise ValueError("最低年利率须大于 0（百分数，如 4.35）")
    if item.rate_min > item.rate_max or item.rate_max > Decimal(36):
        raise ValueError("年利率范围无效：最低不能高于最高，最高不超过 36%")
    if not item.validity_days or not 1 <= item.validity_days <= 3650:
        raise ValueError("额度有效天数须在 1–3650 之间")
    if not item.term_months or not 1 <= item.term_months <= 360:
        raise ValueError("期限须在 1–360 个月之间")
    item.code = (item.code or "").strip().upper()
    if not item.code:
        raise ValueError("产品编号不能为空")


def check_blacklist_entry(session, item: BlacklistEntry, scope: Scope) -> None:
    if scope.level != LEVEL_ALL:
        item.institution_id = scope.institution_id
    try:
        item.id_number = parse_resident_id(item.id_number).number
    except IdentityError as exc:
        raise ValueError(str(exc)) from exc
    if session.scalar(select(BlacklistEntry.id).where(BlacklistEntry.id_number == item.id_number)):
        raise ValueError("该身份证号已在黑名单中")


def _cell(raw):
    """A cell's text under the one input policy (portal/core/text_input.py); numbers as they are."""
    return clean_text(raw) if isinstance(raw, str) else raw


def import_blacklist(session, user, stream) -> tuple[int, int]:
    """Import 身份证号 / 姓名 / 原因 rows; any bad row refuses the whole file (nothing written).

    The workbook is read by portal.whitelist.blacklist_reader in a memory-capped reading process."""
    cfg = current_app.config
    with tempfile.NamedTemporaryFile(suffix=".upload", delete=False) as tmp:
        while chunk := stream.read(1 << 20):
            tmp.write(chunk)
    path = Path(tmp.name)
    try:
        check_spreadsheet(path, max_bytes=20 * 1024 * 1024, max_rows=BLACKLIST_MAX_ROWS)
        read = blacklist_reader.rows(
            path,
            workbook_limits(BLACKLIST_MAX_ROWS),
            cfg["WORKBOOK_HEADER_SCAN_ROWS"],
            cfg["WORKBOOK_READER_MAX_MEMORY_MB"],
        )
        try:
            rows = list(read)
        except (WorkbookRejected, ReaderFailed) as exc:
            raise ValueError(str(exc)) from None
    finally:
        path.unlink(missing_ok=True)
    if not rows:
        raise ValueError("文件中没有数据行")
    if len(rows) > BLACKLIST_MAX_ROWS:
        raise ValueError(f"黑名单文件超过 {BLACKLIST_MAX_ROWS:,} 行，请拆分后导入")
    have = set(session.scalars(select(BlacklistEntry.id_number)))
    new, problems, skipped = {}, [], 0
    for n, id_number, name, reason in rows:
        try:
            number = parse_resident_id(_cell(id_number)).number
        except IdentityError as exc:
            problems.append(f"第 {n} 行：{exc}")
            continue
        reason = _cell(reason)
        reason = str(reason).strip() if reason is not None else ""
        if not reason:
            problems.append(f"第 {n} 行：原因不能为空")
            continue
        if number in have or number in new:
            skipped += 1
            continue
        name = _cell(name)
        name = str(name).strip()[:50] if name is not None else None
        new[number] = {"id_number": number, "name": name, "reason": reason[:200]}
    if problems:
        more = f"等 {len(problems)} 处" if len(problems) > 5 else ""
        raise ValueError("黑名单文件有错误，未导入任何数据：" + "；".join(problems[:5]) + more)
    inst = getattr(user, "institution_id", None)
    values = [{**v, "source": "文件导入", "institution_id": inst} for v in new.values()]
    for i in range(0, len(values), 5000):
        session.execute(insert(BlacklistEntry), values[i : i + 5000])
    audit.record(session, "import", "blacklist", None, {"rows": len(values), "skipped": skipped})
    session.commit()
    return len(values), skipped
