"""Every form of the portal: text cleaned by the one policy (portal/core/text_input.py) and related
rows refused when they are not among the field's choices (portal/core/form_input.py)."""

from __future__ import annotations

import re
import secrets

import pytest
from sqlalchemy import select

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from tests.support.applications import fresh_customer, org_id

ZWSP, BOM, RLO = "\u200b", "\ufeff", "\u202e"


def _errors(resp) -> str:
    """The page's error messages (for an assertion's explanation)."""
    html = resp.get_data(as_text=True)
    found = re.findall(r'alert-danger">\s*(.*?)\s*<', html, re.S)
    return f"{resp.status_code} {found or html[:300]}"


def _role(app, name):
    return app.appbuilder.sm.find_role(name)


def _user_form(app, username: str, **over) -> dict:
    data = {
        "username": username,
        "staff_no": "N" + secrets.token_hex(3),
        "last_name": "新",
        "first_name": "经理",
        "email": f"{username}@portal.local",
        "phone": "13700001111",
        "org_unit": str(org_id("I01B02")),
        "roles": [str(_role(app, "account_manager").id)],
        "active": "y",
        "password": "Strong@2026",
        "conf_password": "Strong@2026",
    }
    data.update(over)
    return data


def _user(db, username):
    db.session.expire_all()
    return db.session.scalar(select(StaffUser).where(StaffUser.username == username))


# --- item 9: a related row outside the field's choices --------------------------------------


@pytest.mark.parametrize("with_allowed_role", [False, True], ids=["hq_only", "hq_and_allowed"])
def test_institution_admin_cannot_grant_hq_admin_on_add(
    app, db, inst_admin_client, with_allowed_role
):
    """Posting the HQ admin role's id (alone, or beside a role they may grant) is refused with
    a message naming the role; nothing is saved and the form keeps what was typed."""
    username = "forged_" + secrets.token_hex(3)
    roles = [str(_role(app, "hq_admin").id)]
    if with_allowed_role:
        roles.append(str(_role(app, "account_manager").id))
    resp = inst_admin_client.post("/users/add", data=_user_form(app, username, roles=roles))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, resp.headers.get("Location")
    assert "无权授予角色：省联社管理员" in html
    assert "记录已新增" not in html and "Added Row" not in html
    assert _user(db, username) is None
    assert f'value="{username}"' in html  # the form keeps its input


def test_institution_admin_cannot_grant_hq_admin_on_edit(app, db, inst_admin_client):
    username = "edited_" + secrets.token_hex(3)
    resp = inst_admin_client.post("/users/add", data=_user_form(app, username))
    assert resp.status_code == 302, _errors(resp)
    user = _user(db, username)
    resp = inst_admin_client.post(
        f"/users/edit/{user.id}",
        data={
            "staff_no": user.staff_no,
            "last_name": "改",
            "first_name": "名",
            "email": user.email,
            "phone": "13700001111",
            "org_unit": str(org_id("I01B02")),
            "roles": [str(_role(app, "hq_admin").id)],
            "active": "y",
        },
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "无权授予角色：省联社管理员" in html
    after = _user(db, username)
    assert [r.name for r in after.roles] == ["account_manager"]  # not emptied, not granted
    assert after.last_name == "新"  # nothing of the edit saved


def test_hq_admin_may_grant_hq_admin(app, db, admin_client):
    username = "hq_grant_" + secrets.token_hex(3)
    resp = admin_client.post(
        "/users/add", data=_user_form(app, username, roles=[str(_role(app, "hq_admin").id)])
    )
    assert resp.status_code == 302, _errors(resp)
    assert [r.name for r in _user(db, username).roles] == ["hq_admin"]


def test_a_branch_of_another_institution_is_refused_on_the_customer_form(db, inst_admin_client):
    """A many-to-one relation: another bank's branch posted on the customer form is a field
    error in Chinese naming the field, and nothing changes."""
    customer = fresh_customer("I01B01")
    db.session.commit()
    foreign = org_id("I02B01")
    resp = inst_admin_client.post(
        f"/customers/edit/{customer.id}",
        data={"name": "换网点", "branch": str(foreign), "address": "x"},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "所选的所属网点不存在或不在您可选的范围内" in html
    db.session.expire_all()
    after = db.session.get(Customer, customer.id)
    assert after.branch_id == org_id("I01B01") and after.name != "换网点"


def test_an_org_unit_of_another_institution_is_refused_on_the_user_form(app, db, inst_admin_client):
    username = "foreign_org_" + secrets.token_hex(3)
    resp = inst_admin_client.post(
        "/users/add", data=_user_form(app, username, org_unit=str(org_id("I02B01")))
    )
    assert resp.status_code == 200
    assert "所选的所属机构/网点不存在或不在您可选的范围内" in resp.get_data(as_text=True)
    assert _user(db, username) is None


# --- item 7: text normalisation in every form ----------------------------------------------


def test_user_form_text_is_stored_normalised(app, db, inst_admin_client):
    """Zero-width, bidi and BOM characters removed, full-width letters and digits folded,
    surrounding spaces stripped — on Flask-AppBuilder's own user form too."""
    username = "norm_" + secrets.token_hex(3)
    resp = inst_admin_client.post(
        "/users/add",
        data=_user_form(
            app,
            f" {username}{ZWSP} ",
            staff_no="ＮＺ" + "１２３",
            last_name=f"韩{ZWSP}",
            first_name=f"{BOM}霞{RLO}平",
            phone="１３７\x00" + "00001111",
        ),
    )
    assert resp.status_code == 302, _errors(resp)
    user = _user(db, username)
    assert (user.username, user.staff_no, user.last_name, user.first_name, user.phone) == (
        username,
        "NZ123",
        "韩",
        "霞平",
        "13700001111",
    )


def test_customer_form_and_search_use_the_same_normalisation(app, db, inst_admin_client):
    """A name typed with a zero-width space is stored clean; a search typed with one (or
    without) finds it; Chinese punctuation in free text keeps its form."""
    customer = fresh_customer("I01B01")
    db.session.commit()
    name = "韩" + secrets.choice("甲乙丙丁戊己庚辛") + "霞平"
    address = "幸福路１２号（东门），３栋"
    resp = inst_admin_client.post(
        f"/customers/edit/{customer.id}",
        data={
            "name": f"{name[0]}{ZWSP}{name[1:]}\u2060",
            "branch": str(customer.branch_id),
            "manager": str(customer.manager_id),
            "address": f"{address}\x07",
        },
    )
    assert resp.status_code == 302, _errors(resp)
    db.session.expire_all()
    after = db.session.get(Customer, customer.id)
    assert (after.name, after.address) == (name, "幸福路12号（东门），3栋")
    for typed in (name, f"{name[:2]}{ZWSP}{name[2:]}", f" {name}\ufeff"):
        listed = inst_admin_client.get("/customers/list/", query_string={"_flt_3_name": typed})
        assert listed.status_code == 200
        assert name in listed.get_data(as_text=True), typed
        # the staff REST API's search (rison `q`) too
        q = f"(filters:!((col:name,opr:eq,value:'{typed}')))"
        api = inst_admin_client.get("/api/v1/customer/", query_string={"q": q})
        assert api.status_code == 200, api.get_data(as_text=True)[:300]
        assert [r["name"] for r in api.get_json()["result"]] == [name], typed


def test_textarea_keeps_line_breaks_and_chinese_punctuation(db, admin_client):
    """A multi-line field (SMS template text) keeps its line breaks (CR LF → LF) and full-width
    punctuation; invisible and control characters go."""
    from models.sms.messages import SmsTemplate

    code = "T" + secrets.token_hex(3).upper()
    body = "【测试】尊敬的客户：\r\n您的额度已更新（详见手机银行）！\u200b\x0b"
    resp = admin_client.post(
        "/sms/templates/add",
        data={
            "code": code,
            "name": f"测试{ZWSP}模板",
            "category": "notice",
            "body": body,
            "active": "y",
        },
    )
    assert resp.status_code == 302, _errors(resp)
    db.session.expire_all()
    tpl = db.session.scalar(select(SmsTemplate).where(SmsTemplate.code == code))
    assert tpl.name == "测试模板"
    assert tpl.body == "【测试】尊敬的客户：\n您的额度已更新（详见手机银行）！"


def test_passwords_are_never_rewritten(app, db, inst_admin_client, anon_client):
    """A password is compared byte for byte: a full-width one is kept as typed."""
    username = "pw_" + secrets.token_hex(3)
    password = "Ｓtrong@2026\u200b"
    resp = inst_admin_client.post(
        "/users/add",
        data=_user_form(app, username, password=password, conf_password=password),
    )
    assert resp.status_code == 302, _errors(resp)
    login = anon_client.post("/login/", data={"username": username, "password": password})
    assert login.status_code == 302 and "/login" not in login.headers["Location"]


def test_org_form_codes_fold_full_width(db, admin_client):
    resp = admin_client.post(
        "/org/add",
        data={
            "code": "Ｉ０８",
            "name": f"测试{ZWSP}农商银行",
            "kind": "institution",
            "parent": str(org_id("P00")),
            "active": "y",
        },
    )
    assert resp.status_code == 302, _errors(resp)
    node = db.session.scalar(select(OrgUnit).where(OrgUnit.code == "I08"))
    assert node is not None and node.name == "测试农商银行"
