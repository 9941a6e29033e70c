"""Permission matrix: every rule in the URL map × every role (and anonymous) × its methods.

Each request is classified "deny" (401/403, or a redirect to the login page) or "allow"
(anything else: 200, a redirect elsewhere, 400, 404, 405 from the view, 422 …) and
compared with the checked-in table ``tests/access/permission_matrix.csv``.

URL arguments are ids that do not exist (pk=999999999, filename "nonexistent"), and form
posts are empty or name a record that does not exist, so nothing seeded is touched; the
test snapshots every table (audit log aside, which only grows) and asserts that nothing
changed. The one real action is ``POST /customers/export/``, which only reads.

Regenerate the table after adding or changing a view::

    PORTAL_WRITE_MATRIX=1 python -m pytest -q tests/access/test_permission_matrix.py

then REVIEW every "allow" row of the diff (``git diff tests/access/permission_matrix.csv``) against
the roles in portal/access/permissions.py: anonymous reaches only the login page, the locale
switch and the JSON login API; auditors read the audit log only; account managers,
approvers and branch managers reach no admin page; FAB's security views are HQ-only.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from tests.support.clients import login
from tests.support.database import table_fingerprints

MATRIX_CSV = Path(__file__).with_name("permission_matrix.csv")
REGENERATE = "PORTAL_WRITE_MATRIX=1 python -m pytest -q tests/access/test_permission_matrix.py"

# role name (portal/access/permissions.py) -> demo login; None = anonymous
MATRIX_USERS = {
    "hq_admin": "admin",
    "institution_admin": "inst_admin",
    "data_marketing": "marketing1",
    "account_manager": "manager1",
    "approver": "approver1",
    "branch_manager": "branch_mgr1",
    "auditor": "auditor1",
    "anonymous": None,
}
SKIP_ENDPOINTS = {"static", "appbuilder.static", "favicon"}  # static assets
METHODS = ("GET", "POST", "PUT", "DELETE")
MISSING_PK = "999999999"
MISSING_NAME = "nonexistent"


def _action_name(app, endpoint: str) -> str:
    """A real action of the rule's view when it has one (so the permission check runs)."""
    view = app.view_functions[endpoint]
    owner = getattr(view, "__self__", None)
    actions = sorted(getattr(owner, "actions", None) or {})
    # userinfoedit only redirects to the user's own form: the harmless one to probe with
    for preferred in ("userinfoedit", "copyrole"):
        if preferred in actions:
            return preferred
    return actions[0] if actions else MISSING_NAME


def _url(app, rule) -> str:
    values = {}
    for arg in rule.arguments:
        if arg == "pk":
            values[arg] = MISSING_PK
        elif arg == "locale":
            values[arg] = "zh"
        elif arg == "name" and rule.endpoint.endswith(".action"):
            values[arg] = _action_name(app, rule.endpoint)
        else:
            values[arg] = MISSING_NAME
    with app.test_request_context():
        from flask import url_for

        url = url_for(rule.endpoint, **values)
    if rule.endpoint.startswith("ResetPasswordView."):
        url += f"?pk={MISSING_PK}"  # FAB's admin password reset takes the user from ?pk=
    return url


def _post_data(app, rule) -> dict:
    if rule.endpoint.endswith(".action_post"):
        # a real action name and no rows (or a missing row): runs the permission check only
        name = _action_name(app, rule.endpoint.replace(".action_post", ".action"))
        rowid = [] if name == "copyrole" else [MISSING_PK]
        return {"action": name, "rowid": rowid}
    return {}


def matrix_cases(app) -> list[tuple[str, str, str, str]]:
    """(method, rule, endpoint, url) for every rule and method, logout last."""
    cases = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        url = _url(app, rule)
        for method in METHODS:
            if method in rule.methods:
                cases.append((method, rule.rule, rule.endpoint, url))
    # logging out ends the client's session, so it goes last
    cases.sort(key=lambda c: (c[2].endswith(".logout"), c[1], c[0]))
    return cases


def classify(resp) -> str:
    if resp.status_code in (401, 403):
        return "deny"
    if resp.status_code in (301, 302, 303, 307, 308):
        location = resp.headers.get("Location", "")
        if "/login/" in location:
            return "deny"
    return "allow"


def _request(client, app, method: str, rule_text: str, endpoint: str, url: str):
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    if endpoint.startswith("SecurityApi."):
        return client.open(url, method=method, json={})
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data=_post_data(app, rule))


def run_matrix(app) -> list[dict]:
    rows = []
    cases = matrix_cases(app)
    for role, username in MATRIX_USERS.items():
        client = login(app, username) if username else app.test_client()
        for method, rule_text, endpoint, url in cases:
            if endpoint.endswith(".logout") and username:
                # prove the session survived every other request before ending it
                assert client.get("/").status_code == 200, f"{role} lost its session"
            resp = _request(client, app, method, rule_text, endpoint, url)
            rows.append(
                {
                    "method": method,
                    "rule": rule_text,
                    "role": role,
                    "actual": classify(resp),
                    "status": resp.status_code,
                    "location": resp.headers.get("Location", ""),
                }
            )
    return rows


def read_expected() -> dict[tuple[str, str, str], str]:
    if not MATRIX_CSV.exists():
        return {}
    with MATRIX_CSV.open(newline="", encoding="utf-8") as fh:
        return {(r["method"], r["rule"], r["role"]): r["expected"] for r in csv.DictReader(fh)}


def write_expected(rows: list[dict]) -> None:
    ordered = sorted(
        rows, key=lambda r: (r["rule"], r["method"], list(MATRIX_USERS).index(r["role"]))
    )
    with MATRIX_CSV.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["method", "rule", "role", "expected"])
        for r in ordered:
            writer.writerow([r["method"], r["rule"], r["role"], r["actual"]])


def test_permission_matrix(app, redis):
    before = table_fingerprints(app)
    rows = run_matrix(app)
    after = table_fingerprints(app)
    changed = sorted(t for t in before if before[t] != after.get(t))
    assert not changed, f"the matrix run changed seeded data in: {changed}"

    errors = [r for r in rows if r["status"] >= 500]
    assert not errors, "server errors:\n" + "\n".join(
        f"  {r['method']} {r['rule']} as {r['role']}: {r['status']}" for r in errors
    )

    if os.environ.get("PORTAL_WRITE_MATRIX") == "1":
        write_expected(rows)
        pytest.skip(f"wrote {MATRIX_CSV.name} ({len(rows)} rows): review every allow row")

    expected = read_expected()
    seen = {(r["method"], r["rule"], r["role"]) for r in rows}
    missing = sorted(k for k in seen if k not in expected)
    stale = sorted(k for k in expected if k not in seen)
    unexpected_allow = [
        r
        for r in rows
        if expected.get((r["method"], r["rule"], r["role"])) == "deny" and r["actual"] == "allow"
    ]
    unexpected_deny = [
        r
        for r in rows
        if expected.get((r["method"], r["rule"], r["role"])) == "allow" and r["actual"] == "deny"
    ]
    allowed_2xx = [r for r in unexpected_allow if 200 <= r["status"] < 300]
    denied_403 = [r for r in unexpected_deny if r["status"] == 403]
    print(
        f"\npermission matrix: {len(rows)} requests, "
        f"{len(allowed_2xx)} unexpected 2xx, {len(denied_403)} unexpected 403 "
        f"({len(unexpected_allow)} unexpected allow, {len(unexpected_deny)} unexpected deny, "
        f"{len(missing)} not in the table, {len(stale)} stale)"
    )

    def fmt(r):
        where = f" -> {r['location']}" if r["location"] else ""
        return f"  {r['method']:6} {r['rule']} as {r['role']}: {r['status']}{where}"

    problems = []
    if unexpected_allow:
        problems.append(
            f"{len(unexpected_allow)} unexpected allow ({len(allowed_2xx)} with 2xx):\n"
            + "\n".join(fmt(r) for r in unexpected_allow)
        )
    if unexpected_deny:
        problems.append(
            f"{len(unexpected_deny)} unexpected deny ({len(denied_403)} with 403):\n"
            + "\n".join(fmt(r) for r in unexpected_deny)
        )
    if missing:
        problems.append(
            f"{len(missing)} (method, rule, role) not in {MATRIX_CSV.name} — a new route?\n"
            + "\n".join(f"  {m} {r} as {role}" for m, r, role in missing[:60])
        )
    if stale:
        problems.append(
            f"{len(stale)} rows of {MATRIX_CSV.name} match no route any more:\n"
            + "\n".join(f"  {m} {r} as {role}" for m, r, role in stale[:60])
        )
    assert not problems, (
        "\n\n".join(problems)
        + f"\n\nIf the change is intended, regenerate the table with\n    {REGENERATE}\n"
        "then review EVERY 'allow' row in `git diff tests/access/permission_matrix.csv` against the"
        " roles in portal/access/permissions.py (anonymous: login page, locale switch and JSON login"
        " API only; auditor: audit log read-only; account manager/approver/branch manager: no"
        " admin page; FAB security views: hq_admin only) before committing it.\n"
        "If a role reaches a page it should not, fix the role data or the view's"
        " class_permission_name/method_permission_name, not the table."
    )


# --- rules the checked-in table itself must obey, so a careless regeneration cannot
# --- encode a role reaching a page it should not

# anonymous: the login page, the locale switch and the JSON login API; /back and
# /logout/ are bare redirects to "/" (which sends an anonymous visitor to the login page)
PUBLIC_ALLOWED = {
    ("GET", "/login/"),
    ("POST", "/login/"),
    ("GET", "/lang/<string:locale>"),
    ("POST", "/api/v1/security/login"),
    ("GET", "/back"),
    ("GET", "/logout/"),
    # the channel API's published OpenAPI description (no data); its operations are HMAC-signed
    ("GET", "/api/channel/v1/openapi.json"),
}
# every signed-in user: home, own account pages (FAB's user-info actions only redirect
# to the caller's own forms and load the row through the scope)
SELF_SERVICE_RULES = {
    "/",
    "/users/userinfo/",
    "/userinfoeditview/form",
    "/resetmypassword/form",
    "/users/action/<string:name>/<pk>",
    "/users/action_post",
}
FAB_SECURITY_PREFIXES = ("/roles/", "/permissions/", "/viewmenus/", "/permissionviews/", "/groups/")
ADMIN_PREFIXES = (*FAB_SECURITY_PREFIXES, "/org/", "/resetpassword/", "/api/v1/menu/")
STAFF_ROLES = ("account_manager", "approver", "branch_manager", "data_marketing", "auditor")


def _allowed(expected, role):
    return {(m, r) for (m, r, who), v in expected.items() if who == role and v == "allow"}


def test_expected_table_obeys_the_role_rules():
    expected = read_expected()
    assert expected, f"{MATRIX_CSV.name} is missing: {REGENERATE}"

    assert _allowed(expected, "anonymous") == PUBLIC_ALLOWED

    auditor = {r for _m, r in _allowed(expected, "auditor")} - {r for _m, r in PUBLIC_ALLOWED}
    assert auditor == SELF_SERVICE_RULES | {"/audit/list/", "/audit/show/<pk>"}
    audit_methods = {m for m, r in _allowed(expected, "auditor") if r.startswith("/audit/")}
    assert audit_methods == {"GET"}, "the audit log is read-only"

    for role in STAFF_ROLES:
        for method, rule in _allowed(expected, role):
            assert not rule.startswith(ADMIN_PREFIXES), f"{role} reaches {method} {rule}"
            if rule.startswith("/users/") and rule not in SELF_SERVICE_RULES:
                # branch managers read their branch's staff list (team workload), nothing more
                assert role == "branch_manager" and method == "GET", (role, method, rule)
                assert rule in ("/users/list/", "/users/show/<pk>"), (role, rule)

    for (method, rule, role), value in expected.items():
        if value != "allow" or not rule.startswith(FAB_SECURITY_PREFIXES):
            continue
        # institution admins may read the (global, read-only to them) role definitions
        # they assign to their staff; everything else of FAB's security views is HQ's
        assert role == "hq_admin" or (
            role == "institution_admin"
            and method == "GET"
            and rule in ("/roles/list/", "/roles/show/<pk>")
        ), f"{role} reaches {method} {rule}"

    reset_others = {who for (m, r, who), v in expected.items() if r == "/resetpassword/form"}
    reset_allowed = {
        who for (m, r, who), v in expected.items() if r == "/resetpassword/form" and v == "allow"
    }
    assert reset_others and reset_allowed == {"hq_admin", "institution_admin"}
    assert {
        r for (_m, r, who), v in expected.items() if v == "allow" and r.startswith("/audit/")
    } and {
        who for (_m, r, who), v in expected.items() if v == "allow" and r.startswith("/audit/")
    } == {"hq_admin", "auditor"}
    customers = {
        who for (_m, r, who), v in expected.items() if v == "allow" and r.startswith("/customers/")
    }
    assert "auditor" not in customers and "anonymous" not in customers
    unmask = {who for (m, r, who), v in expected.items() if v == "allow" and "/unmask/" in r}
    assert unmask == {"hq_admin", "account_manager", "approver"}
    export = {who for (m, r, who), v in expected.items() if v == "allow" and r.endswith("/export/")}
    assert export == {"hq_admin", "institution_admin", "data_marketing", "branch_manager"}
