"""Row validation of a whitelist file, fast enough for a million rows.

Each rule has a fast path for the common, well-formed value (plain string checks,
caches keyed by the repeating parts: birth date, area code + year, mobile prefix,
branch, product). Anything that misses the fast path goes through the shared
rules in :mod:`portal.core.identity`, which give the exact Chinese message — so the
accepted values are the same as everywhere else in the portal.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from stdnum.cn import ric

from portal.core.identity import IdentityError, normalize_mobile, parse_resident_id
from portal.core.text_input import clean_text, is_clean
from portal.whitelist.columns import COLUMNS

COL = {c.key: i for i, c in enumerate(COLUMNS)}
CACHE_MAX = 100_000  # entries per fast-path cache of values that repeat (amounts, rates)
EXCEL_EPOCH = dt.date(1899, 12, 30)
_BAD_NAME_CHARS = set("\t\n\r\\|<>=") | set("0123456789")
_BAD_NAME_RE = re.compile("[" + re.escape("".join(sorted(_BAD_NAME_CHARS))) + "]")


def _person(id_number: str) -> int | str:
    """A customer's key in the validator's whole-file sets: an 18-digit resident ID number is
    decided by its first 17 digits (the 18th is their checksum), kept as one int."""
    head = id_number[:17]
    return int(head) if len(id_number) == 18 and head.isdigit() and head.isascii() else id_number


def _offer_key(person: int | str, product_id: int) -> int | tuple:
    if type(person) is int and 0 <= product_id < 1 << 20:
        return person << 20 | product_id
    return (person, product_id)


@dataclass(frozen=True)
class ProductRule:
    id: int
    code: str
    limit_min: float
    limit_max: float
    rate_min: float
    rate_max: float
    validity_days: int


@dataclass
class Context:
    """What validation needs from the database, loaded once per import."""

    branches: dict[str, tuple[int, int]]  # code -> (branch id, institution id), in scope
    all_branch_codes: set[str]
    products: dict[tuple[int, str], ProductRule]  # (institution id, code) -> rule
    today: dt.date


class RowValidator:
    """validate(values) → (staging tuple, {}) or (None, {column index: reason})."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._dates: dict[str, dt.date | None] = {}
        self._places: dict[str, bool] = {}
        self._mobiles: dict[str, bool] = {}
        self._texts: dict[str, dt.date | None] = {}
        # a million-row file keeps a million entries in each of these two: their keys are
        # ints (see _person, _offer_key), half the memory of the ID-number strings
        self.seen: dict[int | tuple, int] = {}  # (customer, product) -> first row number
        # customer -> institution of its first valid row: a customer belongs to one
        # institution, so a file cannot create it in two (whatever order the rows come in)
        self.customers: dict[int | str, int] = {}
        # the fast path looks codes up as typed: only codes that normalisation leaves unchanged
        self._fast_branches = {k: b for k, b in ctx.branches.items() if _code(k) == k}
        self._fast_products = {
            k: (p, (ctx.today + dt.timedelta(days=p.validity_days)).isoformat())
            for k, p in ctx.products.items()
            if _code(k[1]) == k[1]
        }
        self._today = ctx.today.isoformat()
        # the fast path's formatted values, cached: they repeat across a file
        self._iso: dict[str, str] = {}  # birth yyyymmdd / expiry text -> ISO date
        self._money: dict[float, str] = {}
        self._rates: dict[float, str] = {}

    # -- identity
    def _id(self, raw) -> tuple[str, dt.date, str]:
        if type(raw) is str and len(raw) == 18:
            s = raw if raw[17] != "x" else raw[:17] + "X"
            head = s[:17]
            if head.isdigit() and head.isascii():
                check = (1 - 2 * int(head, 13)) % 11
                if s[17] == ("X" if check == 10 else str(check)):
                    birth = self._birth(s[6:14])
                    if birth is not None and self._place(s):
                        return s, birth, "M" if int(s[16]) % 2 else "F"
        rid = parse_resident_id(raw)  # raises the precise message
        return rid.number, rid.birth_date, rid.gender

    def _birth(self, ymd: str) -> dt.date | None:
        if ymd not in self._dates:
            try:
                d = dt.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
                self._dates[ymd] = d if dt.date(1900, 1, 1) <= d <= self.ctx.today else None
            except ValueError:
                self._dates[ymd] = None
        return self._dates[ymd]

    def _place(self, s: str) -> bool:
        key = s[:10]
        if key not in self._places:
            try:
                ric.get_birth_place(s)
                self._places[key] = True
            except Exception:
                self._places[key] = False
        return self._places[key]

    def _mobile(self, raw) -> str:
        if type(raw) is str and len(raw) == 11 and raw.isdigit() and raw.isascii():
            # validity of a mainland mobile is decided by its first 5 digits (number ranges)
            ok = self._mobiles.get(raw[:5])
            if ok is None:
                try:
                    normalize_mobile(raw)
                    ok = True
                except IdentityError:
                    ok = False
                self._mobiles[raw[:5]] = ok
            if ok:
                return raw
        return normalize_mobile(raw)

    # -- the row
    def validate(self, row_no: int, v: list) -> tuple[tuple | None, dict[int, str]]:
        if len(v) == 9:
            staged = self._fast(row_no, v)
            if staged is not None:
                return staged, {}
        return self._validate(row_no, v)

    def _fast(self, row_no: int, v: list) -> tuple | None:
        """The common, well-formed row in one pass; None → the full rules decide."""
        idn, name, mobile, branch, product, limit, rate, expiry, action = v
        if (action != "" and action is not None and action != "授信") or type(idn) is not str:
            return None
        if len(idn) != 18 or not idn.isascii():
            return None
        head = idn[:17]
        if not head.isdigit():
            return None
        check = (1 - 2 * int(head, 13)) % 11
        if idn[17] != ("X" if check == 10 else str(check)):
            return None
        ymd = idn[6:14]
        birth = self._dates.get(ymd) or self._birth(ymd)
        if birth is None or not (self._places.get(idn[:10]) or self._place(idn)):
            return None
        if (
            type(name) is not str
            or not name
            or len(name) > 50
            or " " in name
            or _BAD_NAME_RE.search(name)
            or not is_clean(name)  # invisible characters, full-width forms: cleaned below
        ):
            return None
        if type(mobile) is not str or len(mobile) != 11 or not mobile.isdigit():
            return None
        if not mobile.isascii() or not self._mobiles.get(mobile[:5]):
            return None
        found = self._fast_branches.get(branch)
        if found is None:
            return None
        rule = self._fast_products.get((found[1], product))
        if rule is None:
            return None
        p, latest = rule
        if type(limit) is not float or not p.limit_min <= limit <= p.limit_max:
            return None
        if type(rate) is not float or not p.rate_min <= rate <= p.rate_max:
            return None
        if expiry == "" or expiry is None:
            expiry = latest
        elif type(expiry) is str and self._texts.get(expiry):
            iso = self._iso.get(expiry)
            if iso is None:
                iso = self._iso[expiry] = self._texts[expiry].isoformat()
            if not self._today < iso <= latest:
                return None
            expiry = iso
        else:
            return None
        person = _person(idn)
        key = _offer_key(person, p.id)
        if key in self.seen:
            return None
        self.seen[key] = row_no
        inst = self.customers.get(person)
        if inst is None:
            self.customers[person] = found[1]
            first = 1
        elif inst != found[1]:
            del self.seen[key]  # the full rules give this row its message
            return None
        else:
            first = 0
        born = self._iso.get(ymd)
        if born is None:
            born = self._iso[ymd] = birth.isoformat()
        amount = self._money.get(limit)
        if amount is None:
            amount = f"{limit:.2f}"
            if len(self._money) < CACHE_MAX:
                self._money[limit] = amount
        yearly = self._rates.get(rate)
        if yearly is None:
            yearly = f"{rate:.4f}"
            if len(self._rates) < CACHE_MAX:
                self._rates[rate] = yearly
        return (
            row_no,
            idn,
            name,
            mobile,
            born,
            "M" if idn[16] in "13579" else "F",
            found[0],
            found[1],
            p.id,
            amount,
            yearly,
            expiry,
            "U",
            first,
        )

    def _validate(self, row_no: int, v: list) -> tuple[tuple | None, dict[int, str]]:
        v = [_cell(raw) for raw in v]
        errs: dict[int, str] = {}
        action = _text(v[COL["action"]])
        if action in ("", "授信", "新增", "变更"):
            revoke = False
        elif action == "撤销":
            revoke = True
        else:
            errs[COL["action"]] = f"操作“{action}”无效，只能为空、“授信”或“撤销”"
            revoke = False
        id_number = birth = gender = None
        try:
            id_number, birth, gender = self._id(v[COL["id_number"]])
        except IdentityError as exc:
            errs[COL["id_number"]] = str(exc)
        name = _text(v[COL["name"]])
        if not revoke and not name:
            errs[COL["name"]] = "姓名不能为空"
        elif len(name) > 50 or any(ch in _BAD_NAME_CHARS for ch in name):
            errs[COL["name"]] = "姓名不能超过 50 个字，且不能包含数字或特殊字符"
        mobile = None
        if not revoke or _text(v[COL["mobile"]]):
            try:
                mobile = self._mobile(v[COL["mobile"]])
            except IdentityError as exc:
                errs[COL["mobile"]] = str(exc)
        branch = self._branch(v[COL["branch"]], errs)
        product = None
        if branch is not None:
            code = _code(v[COL["product"]])
            product = self.ctx.products.get((branch[1], code))
            if product is None:
                errs[COL["product"]] = (
                    f"产品编号“{code}”不存在或已停用" if code else "产品编号不能为空"
                )
        limit = rate = expiry = None
        if product is not None and not revoke:
            limit = self._amount(v[COL["limit"]], product, errs)
            rate = self._rate(v[COL["rate"]], product, errs)
            expiry = self._expiry(v[COL["expiry"]], product, errs)
        person = _person(id_number) if id_number else None
        if id_number and product is not None:
            key = _offer_key(person, product.id)
            first = self.seen.get(key)
            if first is not None:
                errs[COL["id_number"]] = f"与第 {first} 行重复（同一客户同一产品只能出现一次）"
            elif self.customers.get(person, branch[1]) != branch[1]:
                errs[COL["branch"]] = "同一客户在本文件中已导入到其他法人机构的网点"
            elif not errs:
                self.seen[key] = row_no
        if errs:
            return None, errs
        first_customer = 0
        if not revoke and person not in self.customers:
            self.customers[person] = branch[1]
            first_customer = 1
        return (
            row_no,
            id_number,
            name,
            mobile,
            birth.isoformat(),
            gender,
            branch[0],
            branch[1],
            product.id,
            limit,
            rate,
            expiry,
            "R" if revoke else "U",
            first_customer,
        ), errs

    def _branch(self, raw, errs: dict[int, str]) -> tuple[int, int] | None:
        code = _code(raw)
        found = self.ctx.branches.get(code)
        if found is None:
            if not code:
                errs[COL["branch"]] = "网点编号不能为空"
            elif code in self.ctx.all_branch_codes:
                errs[COL["branch"]] = f"网点“{code}”不在您的数据权限范围内"
            else:
                errs[COL["branch"]] = f"网点编号“{code}”不存在"
        return found

    def _amount(self, raw, p: ProductRule, errs: dict[int, str]) -> str | None:
        value = _number(raw)
        if value is None:
            errs[COL["limit"]] = "预授信额度必须是数字（元）"
        elif not p.limit_min <= value <= p.limit_max:
            errs[COL["limit"]] = (
                f"额度 {value:,.2f} 元超出产品范围 {p.limit_min:,.0f}–{p.limit_max:,.0f} 元"
            )
        else:
            return f"{value:.2f}"
        return None

    def _rate(self, raw, p: ProductRule, errs: dict[int, str]) -> str | None:
        value = _number(raw)
        if value is None:
            errs[COL["rate"]] = "年利率必须是数字（百分数，如 6.5）"
        elif not p.rate_min <= value <= p.rate_max:
            hint = "（请填写百分数，如 6.5）" if value < 1 else ""
            errs[COL["rate"]] = (
                f"年利率 {value:g}% 超出产品范围 {p.rate_min:g}%–{p.rate_max:g}%{hint}"
            )
        else:
            return f"{value:.4f}"
        return None

    def _expiry(self, raw, p: ProductRule, errs: dict[int, str]) -> str | None:
        latest = self.ctx.today + dt.timedelta(days=p.validity_days)
        if raw is None or raw == "":
            return latest.isoformat()
        if type(raw) is str:
            value = self._texts.get(raw, False)
            if value is False:
                value = self._texts[raw] = _date(raw)
        else:
            value = _date(raw)
        if value is None:
            errs[COL["expiry"]] = "有效期不是有效日期（如 2027-06-30）"
        elif value <= self.ctx.today:
            errs[COL["expiry"]] = f"有效期 {value} 已过，须晚于今天"
        elif value > latest:
            errs[COL["expiry"]] = f"有效期 {value} 超过产品规定的 {p.validity_days} 天"
        else:
            return value.isoformat()
        return None


def _cell(raw):
    """A cell's text under the portal's one input policy (portal/core/text_input.py): invisible and
    control characters removed, full-width letters and digits folded, line breaks a space."""
    return clean_text(raw) if type(raw) is str else raw


def _text(raw) -> str:
    if raw is None:
        return ""
    if type(raw) is str:
        s = raw.strip()
        return s if s.isascii() or " " not in s else "".join(s.split())
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _code(raw) -> str:
    text = unicodedata.normalize("NFKC", _text(raw))
    return text.split()[0].upper() if text else ""


def _number(raw) -> float | None:
    if type(raw) in (float, int):
        return float(raw)
    text = unicodedata.normalize("NFKC", _text(raw)).replace(",", "").rstrip("%元")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return float(value) if value.is_finite() else None


def _date(raw) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if type(raw) in (float, int) and 1 < raw < 2958466:  # an Excel serial day number
        return EXCEL_EPOCH + dt.timedelta(days=int(raw))
    text = unicodedata.normalize("NFKC", _text(raw))
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
