"""Crafted list parameters never give a 500, and the page size is capped (issue 13, item 4).

Generated: every list view registered in appbuilder (Flask-AppBuilder's security views,
report and chart lists included; tests/support/list_views.py checks the set is complete) × every
crafted parameter below, as the HQ admin and as branch-level roles; every REST API × the
crafted ``q=`` arguments. A request either works with the bad part dropped or is refused
with 400 / 403 — never a 500 — and no page holds more rows than PORTAL_MAX_PAGE_SIZE.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import prison
import pytest

from tests.support.list_views import (
    Clients,
    is_api,
    list_url,
    registered,
    row_ids,
    view_classes,
)

ROLES = ("hq_admin", "branch_manager")
HUGE = "99999999999999999999"
BAD_VALUES = ("abc", "notadate", HUGE, "-" + HUGE, "1e999", "NaN", "a\x00b", "x" * 3000, "²")

# name -> query arguments for view V (FAB's modelview_name); "{col}" = V's first sort column
CRAFTED = {
    "page_abc": {"page_{V}": "abc"},
    "psize_abc": {"psize_{V}": "abc"},
    "page_quote": {"page_{V}": "1'"},
    "page_huge": {"page_{V}": HUGE},
    "page_negative": {"page_{V}": "-1"},
    "page_unicode_digit": {"page_{V}": "²"},
    "page_prefixed_key": {"xpage_{V}": "abc"},
    "psize_negative": {"psize_{V}": "-1"},
    "psize_zero": {"psize_{V}": "0"},
    "psize_huge": {"psize_{V}": HUGE},
    "psize_million": {"psize_{V}": "1000000"},
    "page_and_psize_far": {"page_{V}": "99999999", "psize_{V}": "100"},
    "order_unknown": {"_oc_{V}": "unknown", "_od_{V}": "asc"},
    "order_direction": {"_oc_{V}": "{col}", "_od_{V}": "sideways"},
    "order_dotted": {"_oc_{V}": "nosuch.column", "_od_{V}": "asc"},
    "filter_unknown": {"_flt_9_x": "1", "_flt_0_nosuchcolumn": "1", "_flt_a_name": "1"},
    "valid": {"page_{V}": "0", "psize_{V}": "25", "_oc_{V}": "{col}", "_od_{V}": "desc"},
}
API_CRAFTED = {
    "bad_rison": "(",
    "not_an_object": "1",
    "page_negative": "(page:-1)",
    "page_huge": f"(page:{HUGE})",
    "page_size_huge": "(page_size:1000000)",
    "page_size_negative": "(page_size:-5)",
    "order_unknown": "(order_column:unknown,order_direction:asc)",
    "order_direction": "(order_column:name,order_direction:sideways)",
    "filter_unknown_column": "(filters:!((col:nosuch,opr:eq,value:'1')))",
    "filter_unknown_operation": "(filters:!((col:name,opr:zz,value:'1')))",
    "filter_null_value": "(filters:!((col:name,opr:sw,value:!n)))",
    "filter_missing_keys": "(filters:!((col:name)))",
}

UI_VIEWS = [c.__name__ for c in view_classes() if not is_api(c)]
API_VIEWS = [c.__name__ for c in view_classes() if is_api(c)]


@pytest.fixture(scope="module")
def clients(app):
    return Clients(app)


def _cap(app) -> int:
    return app.config["PORTAL_MAX_PAGE_SIZE"]


def _first_sort_column(view) -> str:
    return next(iter(view.order_columns or []), "id")


def _query(view, args: dict) -> str:
    name = type(view).__name__
    col = _first_sort_column(view)
    pairs = [(k.format(V=name), v.format(col=col)) for k, v in args.items()]
    return urlencode(pairs)


def _assert_page(app, view, resp, what: str) -> None:
    assert resp.status_code < 500, f"{what}: {resp.status_code}"
    if resp.status_code == 200:
        assert len(row_ids(view, resp)) <= _cap(app), f"{what}: more rows than the cap"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("crafted", list(CRAFTED))
@pytest.mark.parametrize("view_name", UI_VIEWS)
def test_crafted_list_parameter_is_not_a_500(app, clients, view_name, crafted, role):
    view = registered(app, view_name)
    url = list_url(view) + "?" + _query(view, CRAFTED[crafted])
    resp = clients.get(role, url)
    _assert_page(app, view, resp, f"{role} {url}")
    if crafted == "valid" and resp.status_code == 200:
        assert "已忽略" not in resp.get_data(as_text=True)  # valid arguments are not refused


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view_name", UI_VIEWS)
def test_every_sort_and_filter_is_answered_without_a_500(app, clients, view_name, role):
    """Every list column in both directions (offered for sorting or not), every filter
    operation of every search column with values the column cannot hold, and filter
    indexes beyond the column's operations."""
    view = registered(app, view_name)
    name, base = type(view).__name__, list_url(view)
    if clients.get(role, base).status_code != 200:
        return  # a role that cannot open the list: the crafted tests above cover its 403
    columns = dict.fromkeys([*view.list_columns, *(view.order_columns or []), "id"])
    for column in columns:
        for direction in ("asc", "desc"):
            url = f"{base}?_oc_{name}={quote(column)}&_od_{name}={direction}"
            _assert_page(app, view, clients.get(role, url), f"{role} {url}")
    search = view._filters.get_search_filters()
    for value in BAD_VALUES:
        pairs = [
            (f"_flt_{i}_{col}", value) for col, flts in search.items() for i in range(len(flts))
        ]
        url = f"{base}?{urlencode(pairs)}"
        _assert_page(app, view, clients.get(role, url), f"{role} {view_name} value {value[:20]!r}")
    pairs = [(f"_flt_9_{col}", "1") for col in search]
    _assert_page(app, view, clients.get(role, f"{base}?{urlencode(pairs)}"), "index 9")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view_name", UI_VIEWS)
def test_crafted_arguments_on_record_pages_are_not_a_500(app, clients, view_name, role):
    """Show, edit and add pages read the list arguments of related lists (a role's users)."""
    view = registered(app, view_name)
    listed = clients.get(role, list_url(view))
    if listed.status_code != 200:
        return
    names = [type(view).__name__, *(type(r).__name__ for r in view._related_views)]
    junk = {}
    for n in names:
        junk.update({f"page_{n}": "abc", f"psize_{n}": "-1", f"_oc_{n}": "unknown"})
        junk.update({f"_od_{n}": "asc", f"_flt_9_{n}": "1"})
    ids = row_ids(view, listed)
    paths = ["/add"]
    if ids:
        paths += [f"/show/{ids[0]}", f"/edit/{ids[0]}"]
    for path in paths:
        url = f"{view.route_base}{path}?{urlencode(junk)}"
        resp = clients.get(role, url)
        assert resp.status_code < 500, f"{role} {url}: {resp.status_code}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("crafted", list(API_CRAFTED))
@pytest.mark.parametrize("view_name", API_VIEWS)
def test_crafted_api_query_is_not_a_500(app, clients, view_name, crafted, role):
    view = registered(app, view_name)
    url = f"{list_url(view)}?q={quote(API_CRAFTED[crafted])}"
    resp = clients.get(role, url)
    assert resp.status_code < 500, f"{role} {url}: {resp.status_code}"
    if resp.status_code == 200:
        assert len(resp.get_json()["result"]) <= _cap(app)
    if resp.status_code == 400:
        message = resp.get_json()["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in str(message)), message  # Chinese


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view_name", API_VIEWS)
def test_every_api_sort_and_filter_is_answered_without_a_500(app, clients, view_name, role):
    view = registered(app, view_name)
    if clients.get(role, list_url(view)).status_code != 200:
        return
    columns = dict.fromkeys([*view.list_columns, *(view.order_columns or []), "id"])
    for column in columns:
        for direction in ("asc", "desc"):
            q = prison.dumps({"order_column": column, "order_direction": direction})
            resp = clients.get(role, f"{list_url(view)}?q={quote(q)}")
            assert resp.status_code < 500, f"{role} sort {column} {direction}"
    for col, flts in view._filters.get_search_filters().items():
        for flt in flts:
            for value in (*BAD_VALUES, 10**20, -(10**20), 1.5, True, [HUGE], []):
                q = prison.dumps({"filters": [{"col": col, "opr": flt.arg_name, "value": value}]})
                resp = clients.get(role, f"{list_url(view)}?q={quote(q)}")
                assert resp.status_code < 500, f"{role} {col} {flt.arg_name} {str(value)[:20]!r}"


def test_page_size_cap_is_the_configured_one(app, clients, monkeypatch):
    """PORTAL_MAX_PAGE_SIZE caps the page in lists and the API; more is cut to the cap."""
    monkeypatch.setitem(app.config, "PORTAL_MAX_PAGE_SIZE", 7)
    view = registered(app, "CustomerView")
    resp = clients.get("hq_admin", "/customers/list/?psize_CustomerView=1000000")
    assert resp.status_code == 200
    assert len(row_ids(view, resp)) == 7
    assert "每页最多显示 7 条" in resp.get_data(as_text=True)
    resp = clients.get("hq_admin", "/customers/list/?psize_CustomerView=5")
    assert len(row_ids(view, resp)) == 5
    api = registered(app, "CustomerApi")
    resp = clients.get("hq_admin", f"{list_url(api)}?q={quote('(page_size:1000000)')}")
    assert resp.status_code == 200 and len(resp.get_json()["result"]) == 7
    resp = clients.get("hq_admin", f"{list_url(api)}?q={quote('(page_size:-1)')}")
    assert resp.status_code == 200 and len(resp.get_json()["result"]) == 7


def test_bad_page_falls_back_to_the_first_page_with_a_message(app, clients):
    view = registered(app, "CustomerView")
    first = clients.get("hq_admin", "/customers/list/")
    resp = clients.get("hq_admin", "/customers/list/?page_CustomerView=abc")
    assert resp.status_code == 200
    assert row_ids(view, resp) == row_ids(view, first)
    assert "页码无效" in resp.get_data(as_text=True)


CUSTOM_LISTS = {
    "/workbench/": {"kind": "x\x00", "sort": "sideways", "overdue": HUGE},
    "/approvals/": {"after_at": "notadate", "after_id": HUGE, "mine": HUGE},
    "/approvals/?": {"after_at": "2026-01-01T00:00:00", "after_id": HUGE},
    "/dashboard/branch/": {"start": "abc", "end": "99999-01-01", "node": HUGE},
    "/dashboard/customers/": {"node": "-" + HUGE},
    "/approval-policies/list/": {"page_ApprovalPolicyView": "abc", "psize": "-1"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(CUSTOM_LISTS))
def test_portal_pages_with_their_own_list_arguments_are_not_a_500(app, clients, path, role):
    """The lists that are not Flask-AppBuilder model views parse their own arguments."""
    url = path.rstrip("?") + "?" + urlencode(CUSTOM_LISTS[path])
    resp = clients.get(role, url)
    assert resp.status_code < 500, f"{role} {url}: {resp.status_code}"
