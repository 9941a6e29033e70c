"""Scope test: branch-A users try every door into branch-B records; 0 records leak, 0 changes.

Branch A is I01B01 (manager1 account manager, branch_mgr1 branch manager, approver1).
Branch B is I01B02 (same bank) and I02B01 (another bank). Every route of the customer,
staff and org views — list, search, show, edit, delete, unmask, bulk actions, export,
add/edit dropdowns, the REST API, the home page and the workbench — is tried with
branch-B ids, and every response body is searched for any trace of a branch-B record:
ID number (full and masked), mobile (full and masked), name, username, staff number,
org code and name, and its id in links, checkboxes, <option> values and JSON.
Every table is fingerprinted before and after: nothing may change.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import pytest
from flask_appbuilder.actions import ActionItem
from sqlalchemy import func, select

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from portal.access.scoping import scope_clause, scope_for
from portal.core.masking import mask_id_number, mask_mobile
from tests.support.clients import login
from tests.support.database import table_fingerprints

A_USERS = ("manager1", "branch_mgr1", "approver1")
B_BRANCHES = ("I01B02", "I02B01")
B_USERNAMES = ("i01b02_am1", "i01b02_mgr", "i02b01_apv", "i02b01_am1", "i02_admin")
PER_BRANCH = 4  # branch-B customers probed per branch


@dataclass
class Probe:
    """The branch-B records and every string that would betray them."""

    customer_ids: list[int]
    user_ids: list[int]
    org_ids: list[int]
    tokens: dict[str, str] = field(default_factory=dict)  # token -> what it betrays
    searches: list[tuple[str, str]] = field(default_factory=list)  # (column, value)


@dataclass
class Tally:
    requests: int = 0
    leaks: list[str] = field(default_factory=list)

    def check(self, who: str, what: str, body: str, probe: Probe, ids=(), echo=None) -> None:
        """Record every branch-B token in `body` (except `echo`: the search term typed in)."""
        self.requests += 1
        for token, meaning in probe.tokens.items():
            if token in body and token != echo:
                self.leaks.append(f"{who} {what}: {meaning} ({token})")
        for pattern in ids:
            if re.search(pattern, body):
                self.leaks.append(f"{who} {what}: id pattern {pattern}")
        self.leaks += [f"{who} {what}: {leak}" for leak in _select_leaks(body, probe)]


def _unique(values) -> set:
    seen, dup = set(), set()
    for v in values:
        (dup if v in seen else seen).add(v)
    return seen - dup


@pytest.fixture(scope="module")
def probe(app) -> Probe:
    from portal.core.extensions import db

    with app.app_context():
        s = db.session
        customers = s.execute(select(Customer)).scalars().all()
        names = _unique(c.name for c in customers)
        masked_ids = _unique(mask_id_number(c.id_number) for c in customers)
        masked_mobiles = _unique(mask_mobile(c.mobile) for c in customers)
        branches = {
            o.code: o
            for o in s.execute(select(OrgUnit).where(OrgUnit.code.in_(B_BRANCHES))).scalars()
        }
        p = Probe([], [], [])
        for code in B_BRANCHES:
            picked = [
                c
                for c in customers
                if c.branch_id == branches[code].id
                and c.name in names
                and mask_id_number(c.id_number) in masked_ids
                and mask_mobile(c.mobile) in masked_mobiles
            ][:PER_BRANCH]
            assert len(picked) == PER_BRANCH, f"not enough distinctive customers in {code}"
            for c in picked:
                p.customer_ids.append(c.id)
                what = f"customer {c.id} of {code}"
                p.tokens[c.id_number] = f"{what} ID number"
                p.tokens[mask_id_number(c.id_number)] = f"{what} masked ID number"
                p.tokens[c.mobile] = f"{what} mobile"
                p.tokens[mask_mobile(c.mobile)] = f"{what} masked mobile"
                p.tokens[c.name] = f"{what} name"
                p.searches += [("name", c.name), ("id_number", c.id_number), ("mobile", c.mobile)]
        for code, node in branches.items():
            p.org_ids.append(node.id)
            p.tokens[node.name] = f"org unit {code} name"
        i02 = s.execute(select(OrgUnit).where(OrgUnit.code == "I02")).scalar_one()
        p.org_ids.append(i02.id)
        p.tokens[i02.name] = "institution I02 name"
        for username in B_USERNAMES:
            u = s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()
            p.user_ids.append(u.id)
            p.tokens[u.username] = f"user {username}"
            p.tokens[u.staff_no] = f"user {username} staff number"
        db.session.remove()
        return p


def _id_patterns(prefix: str, ids) -> list[str]:
    """Links to a record's pages; list checkboxes carry the ids of that list's own view."""
    return [rf"{prefix}/(show|edit|delete|unmask|action/\w+)/{i}\b" for i in ids]


def _rowid_patterns(ids) -> list[str]:
    return [rf'name="rowid" value="{i}"' for i in ids]


# <select name=...> of related fields, and which branch-B id space their options come from
RELATED_SELECTS = {"branch": "org", "parent": "org", "org_unit": "org", "manager": "user"}


def _select_leaks(body: str, probe: Probe) -> list[str]:
    out = []
    for name, space in RELATED_SELECTS.items():
        if f'name="{name}"' not in body or "<select" not in body:
            continue
        m = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', body, re.S)
        if not m:
            continue
        values = {int(v) for v in re.findall(r'<option[^>]*value="(\d+)"', m.group(1))}
        bad = values & set(probe.org_ids if space == "org" else probe.user_ids)
        if bad:
            out.append(f"<select name={name}> offers branch-B ids {sorted(bad)}")
    return out


def _options(body: str, field_name: str) -> set[int]:
    """The option values of the <select name=field_name> (empty values skipped)."""
    m = re.search(rf'<select[^>]*name="{field_name}"[^>]*>(.*?)</select>', body, re.S)
    assert m, f"no <select name={field_name}>"
    return {int(v) for v in re.findall(r'<option[^>]*value="([^"]+)"', m.group(1)) if v.isdigit()}


def _api_ids(client, extra: str = "") -> list[int]:
    ids, page = [], 0
    while True:
        q = f"(page:{page},page_size:100{extra})"
        resp = client.get(f"/api/v1/customer/?q={q}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        data = resp.get_json()
        ids += data["ids"]
        if len(data["ids"]) < 100:
            return ids
        page += 1


def _customer_view(app):
    from views.customers import CustomerView

    return next(v for v in app.appbuilder.baseviews if isinstance(v, CustomerView))


def _expected_customer_ids(app, username: str) -> set[int]:
    """What scope_clause says the user may see (in a short app context of its own)."""
    from portal.core.extensions import db

    with app.app_context():
        user = db.session.execute(
            select(StaffUser).where(StaffUser.username == username)
        ).scalar_one()
        clause = scope_clause(Customer, scope_for(user))
        ids = set(db.session.execute(select(Customer.id).where(clause)).scalars())
        db.session.remove()
    return ids


def _count(app, stmt) -> int:
    from portal.core.extensions import db

    with app.app_context():
        n = db.session.execute(stmt).scalar_one()
        db.session.remove()
    return n


def test_branch_a_users_reach_no_branch_b_record(app, probe, monkeypatch):
    before = table_fingerprints(app)
    audit_before = _count(app, select(func.count()).select_from(AuditLog))
    tally = Tally()
    cust_ids = _id_patterns("/customers", probe.customer_ids)
    user_ids = _id_patterns("/users", probe.user_ids)
    org_ids = _id_patterns("/org", probe.org_ids)
    all_ids = cust_ids + user_ids + org_ids
    cust_rows = _rowid_patterns(probe.customer_ids)
    user_rows = _rowid_patterns(probe.user_ids)
    org_rows = _rowid_patterns(probe.org_ids)

    # a bulk action on customers, so the shared action machinery is exercised with real
    # rows (CustomerView itself defines none): it must never see a branch-B row
    ran: list = []

    def probe_action(items):
        ran.append([c.id for c in (items if isinstance(items, list) else [items])])
        return "ran"

    probe_action.__name__ = "action_post"  # permission can_edit, like any bulk edit
    monkeypatch.setitem(
        _customer_view(app).actions,
        "scope_probe",
        ActionItem("scope_probe", "probe", "", "", True, True, func=probe_action),
    )

    for username in A_USERS:
        c = login(app, username)

        def get(url, who=username, c=c, echo=None):
            resp = c.get(url)
            assert resp.status_code < 500, (who, url, resp.status_code)
            body = resp.get_data(as_text=True)
            rows = {"/customers/": cust_rows, "/users/": user_rows, "/org/": org_rows}
            ids = all_ids + next((v for k, v in rows.items() if url.startswith(k)), [])
            tally.check(who, f"GET {url} [{resp.status_code}]", body, probe, ids, echo)
            return resp

        def post(url, data, who=username, c=c):
            resp = c.post(url, data=data)
            assert resp.status_code < 500, (who, url, resp.status_code)
            tally.check(
                who, f"POST {url} [{resp.status_code}]", resp.get_data(as_text=True), probe, all_ids
            )
            return resp

        # pages that list things
        for url in (
            "/",
            "/workbench/",
            "/customers/list/",
            "/users/list/",
            "/org/list/",
            "/audit/list/",
        ):
            get(url)
        # every customer door, with each branch-B customer id
        for cid in probe.customer_ids:
            assert get(f"/customers/show/{cid}").status_code in (403, 404)
            assert get(f"/customers/edit/{cid}").status_code in (403, 404)
            post(f"/customers/edit/{cid}", {"name": "篡改", "address": "x"})
            post(f"/customers/delete/{cid}", {})
            get(f"/customers/delete/{cid}")
            post(f"/customers/unmask/{cid}", {"reason": "核实客户身份"})
            post(f"/customers/action/scope_probe/{cid}", {})
            get(f"/api/v1/customer/{cid}")
        post("/customers/action_post", {"action": "scope_probe", "rowid": probe.customer_ids})
        if username == "manager1":  # positive control: the probe action does run in scope
            own = sorted(_expected_customer_ids(app, username))[:2]
            post("/customers/action_post", {"action": "scope_probe", "rowid": own})
            assert ran and ran[-1] == own, ran
        for cid in probe.customer_ids[:2]:
            post("/customers/action_post", {"action": "scope_probe", "rowid": [cid]})
        # search by every distinctive branch-B value, and by branch-B branch/manager
        for column, value in probe.searches:
            for flt in (0, 2, 3):  # starts with, contains, equal
                get(f"/customers/list/?_flt_{flt}_{column}={value}", echo=value)
        for oid in probe.org_ids:
            get(f"/customers/list/?_flt_0_branch={oid}")
        for uid in probe.user_ids:
            get(f"/customers/list/?_flt_0_manager={uid}")
        # the staff and org doors
        for uid in probe.user_ids:
            for url in (f"/users/show/{uid}", f"/users/edit/{uid}", f"/users/delete/{uid}"):
                get(url)
            post(f"/users/edit/{uid}", {"first_name": "篡改"})
            post(f"/users/delete/{uid}", {})
            for name in ("userinfoedit", "resetmypassword", "resetpasswords"):
                post(f"/users/action/{name}/{uid}", {})
                post("/users/action_post", {"action": name, "rowid": [uid]})
            get(f"/resetpassword/form?pk={uid}")
            post(
                f"/resetpassword/form?pk={uid}",
                {"password": "Hacked@2026x", "conf_password": "Hacked@2026x"},
            )
        for oid in probe.org_ids:
            for url in (f"/org/show/{oid}", f"/org/edit/{oid}", f"/org/delete/{oid}"):
                get(url)
            post(f"/org/edit/{oid}", {"name": "篡改"})
            post(f"/org/delete/{oid}", {})
            post("/org/action_post", {"action": "nonexistent", "rowid": [oid]})
        # add/edit forms: related-field dropdowns hold nothing of branch B
        add = get("/customers/add")
        if add.status_code == 200:
            body = add.get_data(as_text=True)
            assert not _options(body, "branch") & set(probe.org_ids)
            assert not _options(body, "manager") & set(probe.user_ids)
        # the REST API, whole list and filtered to branch B
        visible = _api_ids(c)
        assert not set(visible) & set(probe.customer_ids), username
        assert set(visible) == _expected_customer_ids(app, username), username
        for oid in probe.org_ids:
            assert _api_ids(c, f",filters:!((col:branch_id,opr:eq,value:{oid}))") == []
        # export, where permitted: no branch-B customer, only in-scope rows
        resp = post("/customers/export/", {})
        if resp.status_code == 200:
            rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
            exported = {int(r[0]) for r in rows[1:]}
            assert exported == _expected_customer_ids(app, username)
            assert not exported & set(probe.customer_ids)

    assert not ran or all(not set(ids) & set(probe.customer_ids) for ids in ran), ran
    after = table_fingerprints(app)
    changes = sorted(t for t in before if before[t] != after.get(t))
    # only unmask/export audit entries may be added; no unmask of a branch-B record happened
    unmasked = _count(
        app,
        select(func.count())
        .select_from(AuditLog)
        .where(
            AuditLog.event == "unmask",
            AuditLog.target_id.in_([str(i) for i in probe.customer_ids]),
        ),
    )
    audit_after = _count(app, select(func.count()).select_from(AuditLog))
    print(
        f"\nscope: {tally.requests} responses from {len(A_USERS)} branch-A users, "
        f"{len(tally.leaks)} records leak, {len(changes)} changes "
        f"(audit log {audit_before} -> {audit_after} rows: logins and exports only)"
    )
    assert not tally.leaks, "branch-B records leaked:\n" + "\n".join(tally.leaks[:50])
    assert not changes, f"tables changed: {changes}"
    assert unmasked == 0


def _ids_where(app, model, *conds) -> set[int]:
    from portal.core.extensions import db

    with app.app_context():
        ids = set(db.session.execute(select(model.id).where(*conds)).scalars())
        db.session.remove()
    return ids


def _user_id(app, username: str) -> int:
    return next(iter(_ids_where(app, StaffUser, StaffUser.username == username)))


def _org_id(app, code: str) -> int:
    return next(iter(_ids_where(app, OrgUnit, OrgUnit.code == code)))


def test_leak_detector_sees_what_hq_may_see(app, probe):
    """Positive control: the same checks do find branch-B records for the HQ admin."""
    tally = Tally()
    c = login(app, "admin")
    cid = probe.customer_ids[0]
    body = c.get(f"/customers/show/{cid}").get_data(as_text=True)
    tally.check("admin", "show", body, probe)
    assert any("masked ID number" in leak for leak in tally.leaks), tally.leaks
    assert any("name" in leak for leak in tally.leaks), tally.leaks
    name = next(v for col, v in probe.searches if col == "name")
    body = c.get(f"/customers/list/?_flt_0_name={name}").get_data(as_text=True)
    assert re.search(_id_patterns("/customers", [cid])[0], body)
    assert _select_leaks(c.get("/customers/add").get_data(as_text=True), probe)
    assert set(probe.customer_ids) <= set(_api_ids(c))


def test_account_manager_sees_only_own_customers(app):
    m1, m2 = _user_id(app, "manager1"), _user_id(app, "manager2")
    own1 = _ids_where(app, Customer, Customer.manager_id == m1)
    own2 = _ids_where(app, Customer, Customer.manager_id == m2)
    assert own1 and own2
    c1 = login(app, "manager1")
    assert set(_api_ids(c1)) == own1
    for cid in sorted(own2)[:5]:
        assert c1.get(f"/customers/show/{cid}").status_code == 404
        assert c1.get(f"/api/v1/customer/{cid}").status_code == 404
    # the branch manager of the same branch sees both managers' customers
    branch = _ids_where(app, Customer, Customer.branch_id == _org_id(app, "I01B01"))
    assert set(_api_ids(login(app, "branch_mgr1"))) == branch >= own1 | own2


def test_institution_admin_sees_own_bank_only(app):
    c = login(app, "inst_admin")
    body = c.get("/org/list/?psize_OrgUnitView=100").get_data(as_text=True)
    for code in ("I01B01", "I01B02", "I01B03", "I01B04"):
        assert code in body
    for code in ("P00", "I02", "I03"):
        assert code not in body, code
    i01 = _org_id(app, "I01")
    assert set(_api_ids(c)) == _ids_where(app, Customer, Customer.institution_id == i01)
    users = c.get("/users/list/?psize_StaffUserView=100").get_data(as_text=True)
    assert "i01b02_am1" in users and "i02_admin" not in users and "auditor1" not in users
    i02_user = _user_id(app, "i02b01_am1")
    i02b01 = _org_id(app, "I02B01")
    for url in (f"/users/show/{i02_user}", f"/users/edit/{i02_user}", f"/org/show/{i02b01}"):
        assert c.get(url).status_code == 404, url
    # add forms offer only nodes of the own bank, and never the HQ admin role
    i01_nodes = _ids_where(app, OrgUnit, OrgUnit.institution_id == i01)
    add_user = c.get("/users/add").get_data(as_text=True)
    assert _options(add_user, "org_unit") <= i01_nodes
    assert "hq_admin" not in add_user
    assert _options(c.get("/org/add").get_data(as_text=True), "parent") <= i01_nodes


def test_institution_admin_cannot_reset_passwords_outside_the_bank(app):
    """FAB's /resetpassword/form took ?pk= unchecked; now only users in scope."""
    from portal.core.extensions import db

    def password_of(user_id):
        with app.app_context():
            pw = db.session.get(StaffUser, user_id).password
            db.session.remove()
        return pw

    c = login(app, "inst_admin")
    own_staff = _user_id(app, "i01b02_am1")
    assert c.get(f"/resetpassword/form?pk={own_staff}").status_code == 200
    for username in ("admin", "i02_admin", "i02b01_am1", "auditor1"):
        uid = _user_id(app, username)
        before = password_of(uid)
        assert c.get(f"/resetpassword/form?pk={uid}").status_code == 404
        resp = c.post(
            f"/resetpassword/form?pk={uid}",
            data={"password": "Hacked@2026x!", "conf_password": "Hacked@2026x!"},
        )
        assert resp.status_code == 404
        assert password_of(uid) == before, username
    for bogus in ("", "abc", "999999999"):
        assert c.get(f"/resetpassword/form?pk={bogus}").status_code == 404


def test_hq_admin_sees_everything(app):
    c = login(app, "admin")
    body = c.get("/org/list/?psize_OrgUnitView=100").get_data(as_text=True)
    for code in ("P00", "I01", "I02B01", "I03B04"):
        assert code in body
    assert len(_api_ids(c)) == _count(app, select(func.count()).select_from(Customer))


def test_auditor_reads_audit_log_but_no_customer(app):
    c = login(app, "auditor1")
    assert c.get("/audit/list/").status_code == 200
    for url in ("/customers/list/", "/api/v1/customer/", "/users/list/", "/org/list/"):
        assert c.get(url).status_code == 403, url
    assert c.post("/customers/export/").status_code == 403


def test_job_monitor_shows_an_institution_admin_only_own_dead_letters(app):
    """The job monitor's dead-letter list goes through the scope function too."""
    import datetime as dt

    from models.background import OutboxItem
    from portal.core.extensions import db

    marks = {"I01": "scope-probe-dead-letter-I01", "I02": "scope-probe-dead-letter-I02"}
    with app.app_context():
        items = [
            OutboxItem(
                kind="sms",
                idempotency_key=mark,
                state="dead",
                last_error=mark,
                institution_id=_org_id(app, code),
                next_attempt_at=dt.datetime(2026, 1, 1),
            )
            for code, mark in marks.items()
        ]
        db.session.add_all(items)
        db.session.commit()
        ids = [i.id for i in items]
        db.session.remove()
    try:
        body = login(app, "inst_admin").get("/jobs/").get_data(as_text=True)
        assert marks["I01"] in body and marks["I02"] not in body
        body = login(app, "admin").get("/jobs/").get_data(as_text=True)
        assert marks["I01"] in body and marks["I02"] in body
    finally:
        with app.app_context():
            db.session.query(OutboxItem).filter(OutboxItem.id.in_(ids)).delete()
            db.session.commit()
            db.session.remove()


def test_branch_a_users_reach_no_branch_b_application(app):
    """Applications of branch B (I01B02, I02B01) through every application door, as the
    branch-A users: to-do list, list and search, page, review actions, notes, inquiry,
    unmask, reassignment (single and bulk): 0 records leak, 0 changes."""
    from models.applications import Application
    from portal.core.extensions import db
    from tests.support.applications import make_application, user_id

    with app.app_context():
        from portal.sms.standard_templates import seed_templates

        seed_templates()
        ids = [
            make_application("assigned", "i01b02_am1", "I01B02"),
            make_application("under_review", "i01b02_am1", "I01B02"),
            make_application("need_info", "i02b01_am1", "I02B01"),
        ]
        tokens: dict[str, str] = {}
        for app_id in ids:
            a = db.session.get(Application, app_id)
            c = a.customer
            tokens[a.app_no] = f"application {app_id} number"
            same_name = db.session.scalar(
                select(func.count()).select_from(Customer).where(Customer.name == c.name)
            )
            if same_name == 1:  # a shared name betrays nothing
                tokens[c.name] = f"application {app_id} customer name"
            tokens[mask_id_number(c.id_number)] = f"application {app_id} masked ID"
            tokens[c.id_number] = f"application {app_id} ID number"
        b_manager = user_id("i01b02_am1")
        a_manager = user_id("manager2")
        db.session.remove()
    probe = Probe([], [], [], tokens=tokens)
    links = [rf"/applications/(show|act|note|inquiry|unmask|reassign)/{i}\b" for i in ids]
    before = table_fingerprints(app)
    tally = Tally()
    for username in A_USERS:
        c = login(app, username)
        for url in ("/workbench/", "/workbench/?kind=escalated", "/applications/list/"):
            resp = c.get(url)
            assert resp.status_code < 500
            tally.check(username, f"GET {url}", resp.get_data(as_text=True), probe, links)
        for app_id in ids:
            resp = c.get(f"/applications/show/{app_id}")
            assert resp.status_code in (403, 404), (username, app_id, resp.status_code)
            for path, data in (
                ("act", {"action": "start_review", "version": 1}),
                ("act", {"action": "reject", "version": 1, "reason_code": "other", "reason": "x"}),
                ("note", {"kind": "note", "body": "篡改记录"}),
                ("inquiry", {}),
                ("unmask", {"reason": "核实客户身份"}),
                ("reassign", {"manager_id": a_manager}),
            ):
                resp = c.post(f"/applications/{path}/{app_id}", data=data)
                assert resp.status_code in (302, 403, 404), (username, path, resp.status_code)
                tally.check(username, f"POST {path}", resp.get_data(as_text=True), probe, links)
        resp = c.post("/applications/reassign_all", data={"from_manager_id": b_manager})
        assert resp.status_code in (403, 404), (username, resp.status_code)
        for flt in ("_flt_0_branch", "_flt_0_manager"):
            value = b_manager if flt.endswith("manager") else ""
            resp = c.get(f"/applications/list/?{flt}={value}")
            tally.check(username, f"GET search {flt}", resp.get_data(as_text=True), probe, links)
    after = table_fingerprints(app)
    changes = sorted(t for t in before if before[t] != after.get(t))
    print(
        f"\nscope (applications): {tally.requests} responses, {len(tally.leaks)} records leak, "
        f"{len(changes)} changes"
    )
    assert not tally.leaks, tally.leaks[:20]
    assert not changes, changes
    # positive control: the same detector does see branch-B applications as the HQ admin
    admin = login(app, "admin")
    control = Tally()
    control.check(
        "admin", "show", admin.get(f"/applications/show/{ids[0]}").get_data(as_text=True), probe
    )
    assert control.leaks


def test_branch_a_dashboards_and_reports_count_only_branch_a(app):
    """Branch-B activity (I01B02, I02B01) never reaches a branch-A user's dashboard figures,
    drill links, node filter, report list or report download: 0 leaks."""
    import datetime as dt

    from models.reports import AggDaily, DailyReport
    from portal.core.extensions import db

    today = dt.date.today()
    with app.app_context():
        a_branch, i01 = _org_id(app, "I01B01"), _org_id(app, "I01")
        b_ids = {code: _org_id(app, code) for code in B_BRANCHES}
        for branch in b_ids.values():
            inst = db.session.get(OrgUnit, branch).institution_id
            db.session.add(
                AggDaily(
                    grain="b",
                    day=today,
                    institution_id=inst,
                    branch_id=branch,
                    metric="submitted",
                    n=7777,
                    total=0,
                )
            )
        db.session.add(
            AggDaily(
                grain="b",
                day=today,
                institution_id=i01,
                branch_id=a_branch,
                metric="submitted",
                n=11,
                total=0,
            )
        )
        report = DailyReport(
            business_date=dt.date(1999, 12, 31),  # a day no other test generates a report for
            institution_id=_org_id(app, "I02"),
            file_name="probe.xlsx",
            stored_path="/nonexistent",
            rows=1,
            sha256="0" * 64,
            generated_at=dt.datetime.now(),
        )
        db.session.add(report)
        db.session.commit()
        report_id = report.id
    leaks = []
    try:
        for username in ("branch_mgr1",):
            c = login(app, username)
            for kind in ("branch", "approver", "customers"):
                for node in ("", *[str(b) for b in b_ids.values()]):
                    body = c.get(f"/dashboard/{kind}/?node={node}").get_data(as_text=True)
                    if "7777" in body:
                        leaks.append((username, kind, node))
                    for branch in b_ids.values():
                        if f"_flt_0_branch={branch}&" in body or f'_flt_0_branch={branch}"' in body:
                            leaks.append((username, kind, f"drill {branch}"))
            body = c.get("/dashboard/branch/").get_data(as_text=True)
            assert "11" in body
            resp = c.get(f"/reports/daily/download/{report_id}")
            assert resp.status_code in (302, 403, 404)
        inst_admin = login(app, "inst_admin")
        assert inst_admin.get(f"/reports/daily/download/{report_id}").status_code == 404
    finally:
        with app.app_context():
            db.session.query(AggDaily).filter(AggDaily.n.in_((7777, 11))).delete()
            db.session.query(DailyReport).filter(DailyReport.id == report_id).delete()
            db.session.commit()
    print(f"\nscope (dashboards/reports): {len(leaks)} leaks")
    assert leaks == []


def test_branch_a_users_reach_no_branch_b_approval_work(app, db):
    """Approval queues, credit lines and contracts of I01B02 / I02B01: branch-A users see none
    of them and can claim, decide, freeze, adjust or terminate none of them."""
    from models.approvals import ApprovalCase
    from models.credit import Contract
    from tests.support.approvals import clear_policies, in_approval, policy
    from tests.support.credit import _line

    clear_policies()
    policy("0-99999999: 网点 99999999")
    tokens, cases, lines, contracts = [], [], [], []
    for branch in ("I01B02", "I02B01"):
        cid = in_approval("30000", branch=branch)
        line = _line(db, branch=branch, manager=None)
        contract = db.session.scalar(select(Contract).where(Contract.credit_line_id == line.id))
        cases.append(cid)
        lines.append(line.id)
        contracts.append(contract.id)
        tokens += [db.session.get(ApprovalCase, cid).ref_no, line.line_no, contract.contract_no]
    before = table_fingerprints(app)
    leaks = []
    for username in A_USERS:
        c = login(app, username)
        urls = [
            "/approvals/",
            "/approvals/?mine=1",
            "/credit-lines/list/",
            "/contracts/list/",
            "/batch-openings/list/",
        ]
        urls += [f"/approvals/case/{i}" for i in cases]
        urls += [f"/credit-lines/show/{i}" for i in lines]
        urls += [f"/contracts/show/{i}" for i in contracts]
        bodies = [(u, c.get(u)) for u in urls]
        for i in cases:
            bodies.append((f"claim {i}", c.post(f"/approvals/claim/{i}")))
            for act in ("approve", "reject"):
                bodies.append(
                    (
                        f"{act} {i}",
                        c.post(
                            f"/approvals/{act}/{i}",
                            data={"amount": "30000", "rate": "6.5", "reason": "越权测试"},
                        ),
                    )
                )
        bodies.append(("claim_next", c.post("/approvals/claim_next")))
        for i in lines:
            bodies.append(
                (
                    f"freeze {i}",
                    c.post(
                        f"/credit-lines/line_status/{i}",
                        data={"action": "freeze", "reason": "越权"},
                    ),
                )
            )
            bodies.append(
                (
                    f"adjust {i}",
                    c.post(f"/credit-lines/adjust/{i}", data={"limit": "30000", "reason": "越权"}),
                )
            )
        for i in contracts:
            bodies.append(
                (f"terminate {i}", c.post(f"/contracts/terminate/{i}", data={"reason": "越权"}))
            )
        for what, resp in bodies:
            assert resp.status_code < 500, (username, what, resp.status_code)
            text_ = resp.get_data(as_text=True)
            leaks += [f"{username} {what}: {t}" for t in tokens if t in text_]
            if what.startswith("/") and "/show/" in what or "/case/" in what:
                assert resp.status_code in (403, 404), (username, what, resp.status_code)
    assert leaks == []
    assert table_fingerprints(app) == before  # nothing claimed, decided, frozen or terminated
    clear_policies()
