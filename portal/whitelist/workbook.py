"""The whitelist workbook formats: the fixed template (模板) and the error report (错误报告)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from portal.access.exports import safe_cell
from portal.whitelist.columns import COLUMNS, HEADERS, SHEET

_RED = PatternFill("solid", fgColor="FFC7CE")
_HEAD = PatternFill("solid", fgColor="DDEBF7")
_BOLD = Font(bold=True)


def template_bytes(branches: list[tuple[str, str]], products: list[tuple[str, str]]) -> bytes:
    """The import template: data sheet with dropdowns, instructions, lists of codes."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(HEADERS)
    for i, col in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=i)
        cell.font, cell.fill = _BOLD, _HEAD
        cell.comment = Comment(col.note, "信贷工作台")
        letter = cell.column_letter
        ws.column_dimensions[letter].width = col.width
    for letter in ("A", "C", "D", "E"):  # ID number, mobile and codes stay text
        ws.column_dimensions[letter].number_format = "@"
    ws.freeze_panes = "A2"
    lists = wb.create_sheet("代码列表")
    lists.append(["网点编号", "网点名称", "产品编号", "产品名称"])
    for i in range(max(len(branches), len(products))):
        b = branches[i] if i < len(branches) else ("", "")
        p = products[i] if i < len(products) else ("", "")
        lists.append([b[0], b[1], p[0], p[1]])
    n_b, n_p = max(len(branches), 1) + 1, max(len(products), 1) + 1
    for formula, col in ((f"代码列表!$A$2:$A${n_b}", "D"), (f"代码列表!$C$2:$C${n_p}", "E")):
        dv = DataValidation(type="list", formula1=f"={formula}", allow_blank=False)
        dv.error, dv.errorTitle = "请从下拉列表中选择", "输入无效"
        ws.add_data_validation(dv)
        dv.add(f"{col}2:{col}1048576")
    dv = DataValidation(type="list", formula1='"授信,撤销"', allow_blank=True)
    ws.add_data_validation(dv)
    dv.add("I2:I1048576")
    guide = wb.create_sheet("填写说明")
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 80
    guide.append(["白名单导入模板填写说明"])
    guide["A1"].font = _BOLD
    guide.append(["列", "说明（带 * 的列必填）"])
    for col, header in zip(COLUMNS, HEADERS, strict=True):
        guide.append([header, col.note])
    for line in (
        "身份证号请保持文本格式：若 Excel 把它变成数字（如 4.40103E+17），原值已丢失，须重新录入。",
        "全角数字、空格、小写 x 会自动纠正；同一客户同一产品在文件中只能出现一次。",
        "黑名单客户、不在您权限范围内的网点、超出产品额度或利率范围的行会被拒绝，并列入错误报告。",
        "可选择“试运行”（只校验不入库），以及“全部成功才导入”或“仅导入正确行”。",
        "同一文件（内容完全相同）重复上传不会重复导入。",
    ):
        guide.append(["注意", line])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_error_report(path: Path, errors: Iterable[tuple[int, list, dict[int, str]]]) -> int:
    """Write (row number, original values, {column index: reason}) rows; bad cells in red."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("错误明细")
    head = [WriteOnlyCell(ws, value=h) for h in ["原行号", *HEADERS, "错误原因"]]
    for c in head:
        c.font, c.fill = _BOLD, _HEAD
    ws.append(head)
    n = 0
    for row_no, values, problems in errors:
        cells = [WriteOnlyCell(ws, value=row_no)]
        for i in range(len(COLUMNS)):
            v = values[i] if i < len(values) else None
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int | float | dt.date):
                v = safe_cell("" if v is None else str(v))
            cell = WriteOnlyCell(ws, value=v)
            if isinstance(v, int) and abs(v) > 10**15:
                cell.number_format = "0"
            if i in problems:
                cell.fill = _RED
            cells.append(cell)
        reason = "；".join(dict.fromkeys(problems.values()))
        cells.append(WriteOnlyCell(ws, value=safe_cell(reason)))
        ws.append(cells)
        n += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return n
