"""Audit log: append-only in the database, and written for logins, changes, unmask and export."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from models.access.audit import AuditLog
from models.customers import Customer


def _events(db, **where):
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditLog, key) == value)
    return list(db.session.execute(stmt).scalars())


def test_database_refuses_update_and_delete_of_audit_rows(app, db, anon_client):
    anon_client.post("/login/", data={"username": "nobody", "password": "x"})
    row_id = db.session.execute(select(func_max())).scalar_one()
    for statement in (
        f"UPDATE audit_log SET event = 'tampered' WHERE id = {row_id}",
        f"DELETE FROM audit_log WHERE id = {row_id}",
    ):
        with db.engine.connect() as conn, pytest.raises(DatabaseError) as exc:
            conn.execute(text(statement))
            conn.commit()
        assert "append-only" in str(exc.value)
    assert db.session.get(AuditLog, row_id).event == "login_failure"


def func_max():
    from sqlalchemy import func

    return func.max(AuditLog.id)


def test_login_success_failure_and_logout_are_audited(app, db, client_for, anon_client):
    anon_client.post("/login/", data={"username": "manager1", "password": "wrong-password"})
    failure = _events(db, event="login_failure")[0]
    assert failure.actor_name == "manager1"
    client = client_for("account_manager")
    assert _events(db, event="login_success")[0].actor_name == "manager1"
    client.get("/logout/")
    assert _events(db, event="logout")[0].actor_name == "manager1"


def test_customer_change_is_audited_with_masked_values(app, db, client_for):
    client = client_for("account_manager")
    customer = (
        db.session.execute(select(Customer).where(Customer.manager_id == _user_id(db, "manager1")))
        .scalars()
        .first()
    )
    old_mobile = customer.mobile
    resp = client.post(
        f"/customers/edit/{customer.id}",
        data={
            "name": customer.name,
            "new_mobile": "13900001111",
            "branch": str(customer.branch_id),
            "manager": str(customer.manager_id),
            "address": "审计测试地址",
        },
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).mobile == "13900001111"
    row = _events(db, event="update", target_type="customer", target_id=str(customer.id))[0]
    change = row.detail["changes"]["mobile"]
    assert change == [old_mobile[:3] + "****" + old_mobile[-4:], "139****1111"]
    assert "13900001111" not in str(row.detail)
    assert row.actor_name == "manager1"


def test_role_change_on_a_user_is_audited(app, db, admin_client):
    from models.access.staff import StaffUser

    user = db.session.execute(
        select(StaffUser).where(StaffUser.username == "i03b04_am2")
    ).scalar_one()
    roles = [r.id for r in user.roles]
    approver_role = app.appbuilder.sm.find_role("approver")
    resp = admin_client.post(
        f"/users/edit/{user.id}",
        data={
            "staff_no": user.staff_no,
            "last_name": user.last_name,
            "first_name": user.first_name,
            "email": user.email,
            "phone": user.phone or "",
            "org_unit": str(user.org_unit_id),
            "roles": [str(r) for r in roles] + [str(approver_role.id)],
            "approval_limit": "",
            "active": "y",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    row = _events(db, event="update", target_type="user", target_id=str(user.id))[0]
    assert "approver" in str(row.detail["changes"]["roles"]["added"])


def _user_id(db, username):
    from models.access.staff import StaffUser

    return db.session.execute(
        select(StaffUser.id).where(StaffUser.username == username)
    ).scalar_one()


def test_auditor_reads_the_log_but_cannot_change_anything(auditor_client):
    assert auditor_client.get("/audit/list/").status_code == 200
    assert auditor_client.get("/customers/list/").status_code in (302, 403)
    assert auditor_client.post("/audit/delete/1").status_code in (302, 403, 404, 405)
