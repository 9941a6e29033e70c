"""The whitelist workbook's columns and header matching: what reading a sheet needs (no
openpyxl here, so that the reading process of portal.whitelist.reader stays small)."""

from __future__ import annotations

from dataclasses import dataclass

from portal.core.text_input import clean_text


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool
    width: int
    note: str


COLUMNS = [
    Column("id_number", "身份证号", True, 22, "18 位居民身份证号；本列为文本格式，请勿改成数字"),
    Column("name", "姓名", True, 10, "客户姓名"),
    Column("mobile", "手机号", True, 14, "11 位手机号"),
    Column("branch", "网点编号", True, 26, "从下拉列表选择，须在您的数据权限范围内"),
    Column("product", "产品编号", True, 20, "从下拉列表选择"),
    Column("limit", "预授信额度（元）", True, 16, "须在产品额度范围内"),
    Column("rate", "年利率（%）", True, 12, "百分数，如 6.5；须在产品利率范围内"),
    Column("expiry", "有效期至", False, 14, "日期，如 2027-06-30；留空则按产品有效天数"),
    Column("action", "操作", False, 8, "留空或“授信”=新增/变更；“撤销”=撤销该客户该产品的额度"),
]
HEADERS = [c.header + ("*" if c.required else "") for c in COLUMNS]
SHEET = "白名单"


def normalize_header(value: object) -> str:
    """A header cell as compared: the one text-input policy, marks of required columns removed."""
    text = clean_text(str(value or "")).replace("*", "").replace("＊", "")
    return text.replace("(", "（").replace(")", "）").replace(" ", "")


def header_map(row: list) -> tuple[dict[str, int], list[str]]:
    """Column key → index from the header row; and the problems (missing required columns)."""
    by_header = {normalize_header(c.header): c.key for c in COLUMNS}
    found: dict[str, int] = {}
    for i, cell in enumerate(row):
        key = by_header.get(normalize_header(cell))
        if key and key not in found:
            found[key] = i
    missing = [c.header for c in COLUMNS if c.required and c.key not in found]
    return found, missing
