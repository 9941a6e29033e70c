"""List arguments (page, page size, sort, filters) checked before Flask-AppBuilder reads them.

FAB parses ``page_<View>``, ``psize_<View>``, ``_oc_<View>`` / ``_od_<View>`` and
``_flt_<n>_<column>`` straight from the query string (flask_appbuilder/urltools.py, called
by BaseCRUDView._list/_show/_add/_edit): ``int()`` with no bounds, any column as a sort
key (a property crashes, a masked column leaks), any filter index, filter values handed to
SQL untyped. Junk gave 500s and ``psize`` had no upper bound (``-1`` = every row).

:func:`clean` returns the arguments FAB may see — a bad one dropped, so FAB's default
applies, with a Chinese message saying so — plus the conditions on masked columns for the
audit (portal/access/masked_search.py). :func:`check_filter_value` is shared with the REST APIs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil import parser as date_parser
from flask_appbuilder.models.filters import BaseFilter, FilterRelation
from sqlalchemy import BigInteger, SmallInteger, inspect
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from portal.access import masked_search

# FAB's own patterns (urltools), searched anywhere in an argument's name as FAB does
PAGE = re.compile("page_(.*)")
PAGE_SIZE = re.compile("psize_(.*)")
ORDER = re.compile("_oc_(.*)")
FILTER = re.compile(r"_flt_(\d)_(.*)")
DIRECTIONS = ("asc", "desc")
MAX_OFFSET = 2**31 - 1  # rows a page may skip: inside every database's integer
MAX_FILTER_CHARS = 200
MAX_NUMBER = Decimal(10) ** 15  # beyond any amount the portal stores (Numeric(14, 2))
_UNSIGNED = re.compile(r"[0-9]{1,12}", re.ASCII)
_INTEGER = re.compile(r"-?[0-9]{1,19}", re.ASCII)

BAD_PAGE = "页码无效，已显示第一页"
BAD_PAGE_SIZE = "每页条数无效，已按默认条数显示"
BAD_ORDER = "不支持按该列排序，已按默认顺序显示"
BAD_FILTER = "筛选条件无效，已忽略"


def page_size_capped(cap: int) -> str:
    return f"每页最多显示 {cap} 条"


class BadValue(ValueError):
    """A filter value the column cannot hold; the message is Chinese."""


@dataclass
class ListSpec:
    """What one list accepts (FAB's modelview name, sortable columns, filters)."""

    name: str
    page_size: int
    order_columns: frozenset[str]
    datamodel: Any = None
    filters: dict[str, list[BaseFilter]] = field(default_factory=dict)  # FAB's index order
    searchable: frozenset[str] = frozenset()  # the columns FAB's list search accepts
    labels: dict[str, Any] = field(default_factory=dict)
    may_unmask: bool = False


@dataclass
class Cleaned:
    args: ImmutableMultiDict
    problems: list[str] = field(default_factory=list)
    masked: list[masked_search.Condition] = field(default_factory=list)
    refused: list[masked_search.Condition] = field(default_factory=list)

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)


def sortable(datamodel: Any, columns: list[str]) -> list[str]:
    """The columns the database can sort on (not a property, not masked), in order."""
    model = datamodel.obj
    out = []
    for col in columns or []:
        if masked_search.kind_of(model, col) is not None:
            continue
        *path, name = col.split(".")
        target = model
        for rel in path:
            relationship = inspect(target).relationships.get(rel)
            target = relationship.mapper.class_ if relationship is not None else None
            if target is None:
                break
        if target is None:
            continue
        attr = getattr(target, name, None)
        if name in inspect(target).column_attrs or hasattr(attr, "_col_name"):
            out.append(col)
    return out


def clean(args: MultiDict, own: ListSpec, related: list[ListSpec], cap: int) -> Cleaned:
    """The arguments FAB may read for list `own` (and the related lists on its page)."""
    specs = {s.name: s for s in related}
    specs[own.name] = own
    sizes = {name: _page_size(args, name, cap) for name in specs}
    out, result = MultiDict(), Cleaned(ImmutableMultiDict())
    for key in args:
        values: list[str] | None = args.getlist(key)
        if (m := FILTER.search(key)) is not None:
            values = _filter(own, int(m[1]), m[2], values, result)
        if values and (m := PAGE.search(key)) is not None:
            values = _page(args[key], specs.get(m[1]), sizes.get(m[1]), m[1] == own.name, result)
        if values and (m := PAGE_SIZE.search(key)) is not None:
            size, message = sizes.get(m[1], (0, None))
            values = [str(size)] if size else None
            if message and m[1] == own.name:
                result.problem(message)
        if values and (m := ORDER.search(key)) is not None:
            values = _order(args, m[1], specs.get(m[1]), m[1] == own.name, result)
        if values and key.startswith("_od_"):
            values = values if _order(args, key[4:], specs.get(key[4:]), False, result) else None
        if values:
            out.setlist(key, values)
    result.args = ImmutableMultiDict(out)
    return result


def _page_size(args: MultiDict, name: str, cap: int) -> tuple[int, str | None]:
    """(the page size asked for list `name`, 0 = FAB's default; a message if changed)."""
    key = next((k for k in args if (m := PAGE_SIZE.search(k)) and m[1] == name), None)
    if key is None:
        return 0, None
    raw = args[key]
    if not _UNSIGNED.fullmatch(raw):
        return 0, BAD_PAGE_SIZE
    size = int(raw)
    if size > cap:
        return cap, page_size_capped(cap)
    return size, None


def _page(raw: str, spec: ListSpec | None, size, own: bool, result: Cleaned):
    if spec is None:  # not a list on this page: FAB would only parse it
        return None
    page_size = (size[0] if size else 0) or spec.page_size
    if _UNSIGNED.fullmatch(raw) and int(raw) * page_size <= MAX_OFFSET:
        return [str(int(raw))]
    if own:
        result.problem(BAD_PAGE)
    return None


def _order(args: MultiDict, name: str, spec: ListSpec | None, own: bool, result: Cleaned):
    column = next((args[k] for k in args if (m := ORDER.search(k)) and m[1] == name), None)
    direction = args.get("_od_" + name)
    if spec is not None and column in spec.order_columns and direction in DIRECTIONS:
        return [column]
    if own and column is not None:
        result.problem(BAD_ORDER)
    return None


def _filter(spec: ListSpec, index: int, column: str, values: list[str], result: Cleaned):
    flts = spec.filters.get(column)
    flt = flts[index] if flts and index < len(flts) else None
    kind = masked_search.kind_of(spec.datamodel.obj, column)
    cond = None
    if kind is not None:
        op, message = (flt.arg_name if flt is not None else "?"), BAD_FILTER
        if flt is not None and column in spec.searchable:  # a filter this list offers
            try:
                cond = masked_search.condition(column, kind, op, values, spec.may_unmask)
            except masked_search.Refused as exc:
                message = f"{exc}，已忽略该条件"
        if cond is None:
            result.problem(message)
            result.refused.append(masked_search.refused(column, kind, op, values))
            return None
        values = list(cond.values)
    if flt is None:
        result.problem(BAD_FILTER)
        return None
    try:
        checked = [check_filter_value(spec.datamodel, column, flt, v) for v in values]
    except BadValue as exc:
        result.problem(f"{BAD_FILTER}（{spec.labels.get(column, column)}：{exc}）")
        return None
    if cond is not None:
        result.masked.append(cond)
    return checked


def check_filter_value(datamodel: Any, column: str, flt: Any, value: Any) -> Any:
    """The value as FAB's filter may receive it, or BadValue (Chinese) when the column's
    type cannot hold it — FAB would pass it to SQL as is (a 500 on PostgreSQL)."""
    flt_class = flt if isinstance(flt, type) else type(flt)
    if isinstance(value, list):
        return [check_filter_value(datamodel, column, flt, v) for v in value]
    if isinstance(value, bool):
        if datamodel.is_boolean(column):
            return value
        raise BadValue("不是有效的值")
    if isinstance(value, float):
        value = repr(value)
    text = str(value)
    if "\x00" in text or len(text) > MAX_FILTER_CHARS:
        raise BadValue(f"不能超过 {MAX_FILTER_CHARS} 个字符")
    if issubclass(flt_class, FilterRelation) or datamodel.is_relation(column):
        related = datamodel.get_related_model(column)
        return _integer(text, inspect(related).primary_key[0].type)
    if datamodel.is_integer(column):
        return _integer(text, datamodel.list_columns[column].type)
    if datamodel.is_numeric(column) or datamodel.is_float(column):
        try:
            number = Decimal(text.strip())
        except InvalidOperation as exc:
            raise BadValue("不是有效的数字") from exc
        if not number.is_finite() or abs(number) >= MAX_NUMBER:
            raise BadValue("不是有效的数字")
        return format(number, "f")
    if datamodel.is_date(column) or datamodel.is_datetime(column):
        try:
            date_parser.parse(text)
        except (ValueError, OverflowError) as exc:
            raise BadValue("不是有效的日期") from exc
        return text
    if datamodel.is_boolean(column):
        if text != "y":  # what FAB's search form sends for a ticked box
            raise BadValue("不是有效的值")
        return text
    if datamodel.is_enum(column) and text not in datamodel.list_columns[column].type.enums:
        raise BadValue("不是可选的值")
    return text


def record_id(raw: str | None) -> int | None:
    """A record id from the query string, or None when it is not one a table can hold
    (for pages that read their own arguments: an id beyond the integer range was a 500)."""
    if raw is None or not _UNSIGNED.fullmatch(raw.strip()) or int(raw) > 2**31 - 1:
        return None
    return int(raw)


def _integer(text: str, sql_type: Any) -> str:
    if not _INTEGER.fullmatch(text.strip()):
        raise BadValue("不是有效的整数")
    bits = (
        63 if isinstance(sql_type, BigInteger) else 15 if isinstance(sql_type, SmallInteger) else 31
    )
    number = int(text)
    if not -(2**bits) <= number < 2**bits:
        raise BadValue("超出范围")
    return str(number)
