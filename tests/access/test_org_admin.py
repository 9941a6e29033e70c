"""Org tree and staff admin: HQ manages everything, institution admins only their own bank."""

import re

from click.testing import CliRunner
from sqlalchemy import select

from models.access.org import OrgUnit
from models.access.staff import StaffUser


def _node(db, code):
    return db.session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


def _options(html, field):
    block = re.search(rf'<select[^>]*id="{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return set(re.findall(r'<option[^>]*value="([^"]*)"', block)) - {"", "__None"}


def test_hq_admin_creates_an_institution_and_a_branch(db, admin_client):
    province = _node(db, "P00")
    resp = admin_client.post(
        "/org/add",
        data={
            "code": "I09",
            "name": "测试农商银行",
            "kind": "institution",
            "parent": str(province.id),
            "active": "y",
        },
    )
    assert resp.status_code == 302
    inst = _node(db, "I09")
    assert inst.institution_id == inst.id
    resp = admin_client.post(
        "/org/add",
        data={
            "code": "I09B01",
            "name": "测试营业部",
            "kind": "branch",
            "parent": str(inst.id),
            "active": "y",
        },
    )
    assert resp.status_code == 302
    assert _node(db, "I09B01").institution_id == inst.id


def test_institution_admin_adds_branches_only_in_own_bank(db, inst_admin_client):
    html = inst_admin_client.get("/org/add").get_data(as_text=True)
    parents = _options(html, "parent")
    assert parents == {str(_node(db, "I01").id)}
    resp = inst_admin_client.post(
        "/org/add",
        data={
            "code": "I01B77",
            "name": "新网点",
            "kind": "branch",
            "parent": str(_node(db, "I01").id),
            "active": "y",
        },
    )
    assert resp.status_code == 302 and _node(db, "I01B77").institution_id == _node(db, "I01").id
    # a parent outside the scope is not a valid choice: nothing is created
    resp = inst_admin_client.post(
        "/org/add",
        data={
            "code": "I02B77",
            "name": "越权网点",
            "kind": "branch",
            "parent": str(_node(db, "I02").id),
            "active": "y",
        },
    )
    assert db.session.execute(select(OrgUnit).where(OrgUnit.code == "I02B77")).first() is None
    # nor may an institution admin create an institution
    inst_admin_client.post(
        "/org/add",
        data={
            "code": "I88",
            "name": "越权机构",
            "kind": "institution",
            "parent": str(_node(db, "P00").id),
            "active": "y",
        },
    )
    assert db.session.execute(select(OrgUnit).where(OrgUnit.code == "I88")).first() is None
    listed = inst_admin_client.get("/org/list/?psize_OrgUnitView=100").get_data(as_text=True)
    assert "I02B01" not in listed and "I01B01" in listed


def test_institution_admin_creates_staff_in_scope_without_granting_hq_admin(
    app, db, inst_admin_client
):
    html = inst_admin_client.get("/users/add").get_data(as_text=True)
    orgs = _options(html, "org_unit")
    allowed = {
        str(n.id)
        for n in db.session.execute(
            select(OrgUnit).where(OrgUnit.institution_id == _node(db, "I01").id)
        ).scalars()
    }
    assert orgs and orgs <= allowed
    role_ids = _options(html, "roles")
    hq = app.appbuilder.sm.find_role("hq_admin")
    am = app.appbuilder.sm.find_role("account_manager")
    assert str(hq.id) not in role_ids and str(am.id) in role_ids
    resp = inst_admin_client.post(
        "/users/add",
        data={
            "username": "new_am_i01",
            "staff_no": "N0001",
            "last_name": "新",
            "first_name": "经理",
            "email": "new_am_i01@portal.local",
            "phone": "13700001111",
            "org_unit": str(_node(db, "I01B02").id),
            "roles": [str(am.id)],
            "active": "y",
            "password": "Strong@2026",
            "conf_password": "Strong@2026",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    user = db.session.execute(
        select(StaffUser).where(StaffUser.username == "new_am_i01")
    ).scalar_one()
    assert user.institution_id == _node(db, "I01").id and user.org_unit.code == "I01B02"


def test_weak_password_is_refused_in_chinese(db, inst_admin_client, app):
    am = app.appbuilder.sm.find_role("account_manager")
    resp = inst_admin_client.post(
        "/users/add",
        data={
            "username": "weak_pw",
            "last_name": "弱",
            "first_name": "密码",
            "email": "weak@portal.local",
            "org_unit": str(_node(db, "I01B02").id),
            "roles": [str(am.id)],
            "password": "password",
            "conf_password": "password",
        },
    )
    assert resp.status_code == 200 and "密码不符合要求" in resp.get_data(as_text=True)
    assert (
        db.session.execute(select(StaffUser).where(StaffUser.username == "weak_pw")).first() is None
    )


def test_cli_create_user_and_converge_roles(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-user",
            "--username",
            "cli_user",
            "--role",
            "approver",
            "--org",
            "I02B01",
            "--password",
            "Cli@2026pw",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.execute(
        select(StaffUser).where(StaffUser.username == "cli_user")
    ).scalar_one()
    assert [r.name for r in user.roles] == ["approver"] and user.org_unit.code == "I02B01"
    bad = runner.invoke(
        args=[
            "create-user",
            "--username",
            "x2",
            "--role",
            "approver",
            "--org",
            "I02B01",
            "--password",
            "weak",
        ]
    )
    assert bad.exit_code != 0 and "密码不符合要求" in bad.output
    # a permission granted by hand is taken away again by `portal roles`
    sm = app.appbuilder.sm
    role = sm.find_role("auditor")
    extra = sm.find_permission_view_menu("can_read", "Customer")
    role.permissions.append(extra)
    db.session.commit()
    result = runner.invoke(args=["roles"])
    assert result.exit_code == 0 and "auditor" in result.output
    db.session.expire_all()
    assert extra not in sm.find_role("auditor").permissions
    assert isinstance(CliRunner, type)
