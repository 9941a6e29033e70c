"""Customers: validated on entry, masked by default, unmask asks a reason and is audited."""

from sqlalchemy import select

from models.access.audit import AuditLog
from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer


def _branch(db, code):
    return db.session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


def _user(db, username):
    return db.session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()


def test_add_customer_derives_birth_date_and_gender_and_normalises(db, client_for):
    client = client_for("account_manager")
    branch, me = _branch(db, "I01B01"), _user(db, "manager1")
    resp = client.post(
        "/customers/add",
        data={
            "id_number": "44010319900301107x",
            "name": "测试客户",
            "mobile": "+86 139 1234 5678",
            "branch": str(branch.id),
            "manager": str(me.id),
            "address": "",
        },
    )
    assert resp.status_code == 302
    c = db.session.execute(select(Customer).where(Customer.name == "测试客户")).scalar_one()
    assert c.id_number == "44010319900301107X"
    assert c.mobile == "13912345678"
    assert str(c.birth_date) == "1990-03-01" and c.gender == "M"
    assert c.institution_id == branch.institution_id


def test_bad_input_is_refused_in_chinese_and_keeps_what_was_typed(db, client_for):
    client = client_for("account_manager")
    before = db.session.execute(select(Customer.id)).all()
    resp = client.post(
        "/customers/add",
        data={
            "id_number": "440106199003071531",
            "name": "保留的名字",
            "mobile": "12345",
            "branch": str(_branch(db, "I01B01").id),
        },
    )
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "校验位错误" in body and "手机号" in body
    assert 'value="保留的名字"' in body and 'value="440106199003071531"' in body
    assert db.session.execute(select(Customer.id)).all() == before


def test_duplicate_id_number_is_refused(db, client_for):
    existing = db.session.execute(select(Customer)).scalars().first()
    client = client_for("hq_admin")
    resp = client.post(
        "/customers/add",
        data={
            "id_number": existing.id_number,
            "name": "重复",
            "mobile": "13900000000",
            "branch": str(existing.branch_id),
        },
    )
    assert resp.status_code == 200
    assert db.session.execute(select(Customer).where(Customer.name == "重复")).first() is None


def test_lists_and_details_show_masked_values(db, client_for):
    me = _user(db, "manager1")
    c = db.session.execute(select(Customer).where(Customer.manager_id == me.id)).scalars().first()
    client = client_for("account_manager")
    for url in ("/customers/list/", f"/customers/show/{c.id}", "/workbench/"):
        body = client.get(url).get_data(as_text=True)
        assert c.id_number not in body and c.mobile not in body, url
    assert c.id_number[:4] + "*" * 10 + c.id_number[-4:] in client.get(
        f"/customers/show/{c.id}"
    ).get_data(as_text=True)


def test_unmask_needs_a_reason_and_is_audited(db, client_for):
    me = _user(db, "manager1")
    c = db.session.execute(select(Customer).where(Customer.manager_id == me.id)).scalars().first()
    client = client_for("account_manager")
    refused = client.post(f"/customers/unmask/{c.id}", data={"reason": ""})
    assert refused.status_code == 302
    resp = client.post(f"/customers/unmask/{c.id}", data={"reason": "电话核实客户身份"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and c.id_number in body and c.mobile in body
    assert resp.headers["Cache-Control"] == "no-store"
    row = (
        db.session.execute(
            select(AuditLog)
            .where(AuditLog.event == "unmask", AuditLog.target_id == str(c.id))
            .order_by(AuditLog.id.desc())
        )
        .scalars()
        .first()
    )
    assert row.detail["reason"] == "电话核实客户身份" and row.actor_name == "manager1"


def test_roles_without_unmask_permission_cannot_unmask(db, client_for):
    c = db.session.execute(select(Customer)).scalars().first()
    resp = client_for("data_marketing").post(
        f"/customers/unmask/{c.id}", data={"reason": "想看看明文"}
    )
    assert resp.status_code in (302, 403)
    assert c.id_number not in resp.get_data(as_text=True)


def test_export_is_masked_formula_safe_and_audited(db, client_for):
    client = client_for("branch_manager")
    resp = client.post("/customers/export/")
    text = resp.get_data().decode("utf-8-sig")
    assert resp.status_code == 200 and text.startswith("客户编号")
    branch = _branch(db, "I01B01")
    rows = (
        db.session.execute(select(Customer).where(Customer.branch_id == branch.id)).scalars().all()
    )
    assert len(text.strip().splitlines()) == len(rows) + 1
    assert all(r.id_number not in text and r.mobile not in text for r in rows)
    assert (
        db.session.execute(select(AuditLog).where(AuditLog.event == "export")).first() is not None
    )


def test_formula_cells_are_escaped():
    from portal.access.exports import safe_cell

    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("@SUM") == "'@SUM" and safe_cell("-1") == "'-1" and safe_cell("张三") == "张三"
