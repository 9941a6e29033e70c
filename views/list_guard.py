"""Every list's arguments checked before Flask-AppBuilder reads them; masked columns searched
only the portal's way; the page size capped.

* :class:`ListGuardMixin` (model views: views.base.ScopedModelView and FAB's security views
  in views/access/fab_security_views.py) — FAB reads the list arguments from ``request.args`` in the four
  CRUD helpers ``_list``, ``_show``, ``_add``, ``_edit`` (flask_appbuilder/urltools.py); each
  first replaces ``request.args`` with the checked copy from :func:`portal.core.list_args.clean`
  (a bad argument dropped, so FAB's default applies, with a Chinese flash), and
  ``_get_list_widget`` — the one query of every list, related lists included — caps the
  page size at PORTAL_MAX_PAGE_SIZE.
* :class:`RestListGuardMixin` (views.base.ScopedModelRestApi) — the same checks on the
  rison ``q=`` argument: bad filters, sort columns and page numbers are a 400 with a
  Chinese message, ``page_size`` is capped.
* Both: sorting only by the columns a list offers that the database can sort on (never a
  masked one), and masked columns matched by their complete value only without
  ``can_unmask`` (portal/access/masked_search.py), each search audited.
"""

from __future__ import annotations

from flask import current_app, flash, g, request
from flask_appbuilder.exceptions import (
    InvalidOperationFilterFABException,
    InvalidOrderByColumnFABException,
)
from werkzeug.exceptions import BadRequest

from portal.access import masked_search
from portal.access.permissions import ACTION_UNMASK
from portal.core import list_args


def max_page_size() -> int:
    return int(current_app.config["PORTAL_MAX_PAGE_SIZE"])


def _may_unmask(view) -> bool:
    if not getattr(view.datamodel.obj, "__masked__", None):
        return False
    return view.appbuilder.sm.has_access(ACTION_UNMASK, view.class_permission_name)


def _exact_first(filters, model) -> None:
    """Put "equal" first among a masked column's operations: the search form's default."""
    for column in getattr(model, "__masked__", None) or {}:
        for table in (filters._all_filters, filters._search_filters):
            if table.get(column):
                table[column].sort(key=lambda f: f.arg_name != masked_search.EXACT)


def _audit_masked(view, conditions, rows) -> None:
    exact = all(c.complete and c.op == masked_search.EXACT for c in conditions)
    event = "masked_lookup" if exact else "masked_search"
    masked_search.audit(view.datamodel.obj, type(view).__name__, conditions, event, rows)


class ListGuardMixin:
    """For Flask-AppBuilder ModelViews (see the module docstring)."""

    def _init_properties(self) -> None:
        super()._init_properties()
        self.order_columns = list_args.sortable(self.datamodel, self.order_columns)
        _exact_first(self._filters, self.datamodel.obj)

    def _list_spec(self, with_filters: bool = True) -> list_args.ListSpec:
        spec = list_args.ListSpec(
            name=type(self).__name__,
            page_size=self.page_size,
            order_columns=frozenset(self.order_columns or ()),
            datamodel=self.datamodel,
        )
        if with_filters:
            spec.filters = self._filters._all_filters  # FAB indexes _flt_<n>_ into these
            spec.searchable = frozenset(self._filters.get_search_filters())
            spec.labels = self.label_columns
            spec.may_unmask = _may_unmask(self)
        return spec

    def _guard_list_args(self) -> list_args.Cleaned:
        related = [v._list_spec(False) for v in self._related_views if hasattr(v, "_list_spec")]
        cleaned = list_args.clean(request.args, self._list_spec(), related, max_page_size())
        request.args = cleaned.args
        for message in cleaned.problems:
            flash(message, "warning")
        return cleaned

    def _list(self, **kwargs):
        cleaned = self._guard_list_args()
        if cleaned.refused:
            model, name = self.datamodel.obj, type(self).__name__
            masked_search.audit(model, name, cleaned.refused, "masked_search_refused")
        widgets = super()._list(**kwargs)
        if cleaned.masked:
            _audit_masked(self, cleaned.masked, widgets["list"].template_args.get("count"))
        return widgets

    def _show(self, pk):
        self._guard_list_args()
        return super()._show(pk)

    def _add(self):
        self._guard_list_args()
        return super()._add()

    def _edit(self, pk):
        self._guard_list_args()
        return super()._edit(pk)

    def _get_list_widget(self, filters, page_size=None, **kwargs):
        """Every list query of the view (its own list and as a related list elsewhere)."""
        page_size = min(page_size or self.page_size, max_page_size())
        return super()._get_list_widget(filters, page_size=page_size, **kwargs)


class RestListGuardMixin:
    """For Flask-AppBuilder ModelRestApis (see the module docstring)."""

    def _init_properties(self) -> None:
        super()._init_properties()
        self.order_columns = list_args.sortable(self.datamodel, self.order_columns)

    def _handle_filters_args(self, rison_args):
        checked, conditions = [], []
        for item in rison_args.get("filters", []):
            if not isinstance(item, dict) or not {"col", "opr", "value"} <= item.keys():
                checked.append(item)  # FAB stops at a malformed filter
                continue
            value, cond = self._check_rest_filter(item["col"], item["opr"], item["value"])
            conditions += [cond] if cond else []
            checked.append({**item, "value": value})
        g.portal_masked_conditions = conditions
        return super()._handle_filters_args({**rison_args, "filters": checked})

    def _check_rest_filter(self, col, opr, value):
        cond = None
        kind = masked_search.kind_of(self.datamodel.obj, str(col))
        if kind is not None:
            try:
                if col not in self.search_columns:
                    raise masked_search.Refused("该列不能作为筛选条件")
                cond = masked_search.condition(col, kind, opr, value, _may_unmask(self))
            except masked_search.Refused as exc:
                refused = [masked_search.refused(col, kind, str(opr), value)]
                model, name = self.datamodel.obj, type(self).__name__
                masked_search.audit(model, name, refused, "masked_search_refused")
                raise InvalidOperationFilterFABException(str(exc)) from exc
            value = list(cond.values) if isinstance(value, list) else cond.values[0]
        flts = self._filters.get_search_filters().get(col, [])
        flt = next((f for f in flts if f.arg_name == opr), None)
        if flt is None:
            return value, cond  # FAB refuses the column or the operation itself
        try:
            value = list_args.check_filter_value(self.datamodel, col, flt, value)
        except list_args.BadValue as exc:
            label = self.label_columns.get(col, col)
            raise InvalidOperationFilterFABException(f"筛选值无效（{label}：{exc}）") from exc
        return value, cond

    def _handle_order_args(self, rison_args):
        column = rison_args.get("order_column", "")
        if column and column not in self.order_columns:
            raise InvalidOrderByColumnFABException("不支持按该列排序")
        return super()._handle_order_args(rison_args)

    def _sanitize_page_args(self, page, page_size):
        cap = max_page_size()
        if page is not None and (not isinstance(page, int) or isinstance(page, bool) or page < 0):
            raise BadRequest("页码无效")
        size = page_size or self.page_size
        if not isinstance(size, int) or not 1 <= size <= cap:
            size = cap  # as FAB does: out of range means the largest page
        if (page or 0) * size > list_args.MAX_OFFSET:
            raise BadRequest("页码超出范围")
        return page or 0, size

    def pre_get_list(self, data) -> None:
        super().pre_get_list(data)
        conditions = g.pop("portal_masked_conditions", None)
        if conditions:
            _audit_masked(self, conditions, data.get("count"))

    def response_400(self, message=None):
        if message is None or isinstance(message, str):
            text = (message or "").removeprefix("400 Bad Request: ")
            if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
                text = f"请求参数无效（{text}）" if text else "请求参数无效"
            message = text
        return super().response_400(message=message)
