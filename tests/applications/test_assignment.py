"""Auto-assignment rules: own manager if active, else least loaded (ties round robin),
the per-institution rule, and reassignment by the branch manager (single and bulk).
Runs in branch I03B04, which no other test uses."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from models.access.staff import StaffUser
from models.applications import Application, ApplicationSettings
from models.sms.messages import SmsMessage
from portal.applications import assignment, lifecycle
from tests.support.applications import ChannelClient, channel_key, fresh_offer, submit_body, user_id

BRANCH = "I03B04"
AM1, AM2 = "i03b04_am1", "i03b04_am2"


@pytest.fixture()
def api(app, db):
    from portal.sms.standard_templates import seed_templates

    seed_templates()
    # start every test with an empty branch: close whatever earlier tests left open
    db.session.execute(
        update(Application)
        .where(
            Application.branch_id == _branch_id(db), Application.state.in_(lifecycle.OPEN_STATES)
        )
        .values(state="withdrawn")
    )
    db.session.execute(
        update(StaffUser).where(StaffUser.username.in_((AM1, AM2))).values(active=True)
    )
    db.session.commit()
    assignment._settings_cache.clear()
    key_id, secret = channel_key()
    yield ChannelClient(app.test_client(), key_id, secret)
    db.session.execute(
        update(StaffUser).where(StaffUser.username.in_((AM1, AM2))).values(active=True)
    )
    db.session.query(ApplicationSettings).delete()
    db.session.commit()
    assignment._settings_cache.clear()


def _branch_id(db):
    from tests.support.applications import org_id

    return org_id(BRANCH)


def _submit(api, db, manager=None) -> Application:
    resp = api.call("POST", "/applications", submit_body(fresh_offer(BRANCH, manager)))
    assert resp.status_code == 201, resp.get_json()
    db.session.expire_all()
    return db.session.scalar(
        select(Application).where(Application.app_no == resp.get_json()["application"]["app_no"])
    )


def test_own_manager_first(api, db):
    assert _submit(api, db, AM2).manager_id == user_id(AM2)


def test_inactive_own_manager_falls_back_to_load(api, db):
    db.session.execute(update(StaffUser).where(StaffUser.username == AM2).values(active=False))
    db.session.commit()
    for _ in range(3):
        app = _submit(api, db, AM2)
        assert app.manager_id == user_id(AM1)  # the only active manager, whatever the load


def test_load_balance_and_round_robin_ties(api, db):
    got = [_submit(api, db).manager_id for _ in range(6)]
    assert sorted(got.count(u) for u in (user_id(AM1), user_id(AM2))) == [3, 3]
    assert all(a != b for a, b in zip(got, got[1:], strict=False))  # alternates on ties
    # a manager with more open work gets nothing until the other catches up
    busy = got[-1]
    for app_id in db.session.scalars(
        select(Application.id).where(
            Application.manager_id != busy,
            Application.branch_id == _branch_id(db),
            Application.state == "assigned",
        )
    ).all()[:2]:
        db.session.execute(
            update(Application).where(Application.id == app_id).values(state="withdrawn")
        )
    db.session.commit()
    assert [_submit(api, db).manager_id for _ in range(2)] == [
        next(u for u in (user_id(AM1), user_id(AM2)) if u != busy)
    ] * 2


def test_institution_rule_load_ignores_own_manager(api, db):
    from tests.support.applications import org_id

    db.session.add(ApplicationSettings(institution_id=org_id("I03"), assign_rule="load"))
    db.session.commit()
    assignment._settings_cache.clear()
    first = _submit(api, db, AM1)
    second = _submit(api, db, AM1)
    assert {first.manager_id, second.manager_id} == {user_id(AM1), user_id(AM2)}


def test_branch_manager_reassigns_single_and_bulk(api, db):
    apps = [_submit(api, db, AM1) for _ in range(3)]
    mgr = db.session.scalar(select(StaffUser).where(StaffUser.username == f"{BRANCH.lower()}_mgr"))
    actor = lifecycle.staff_actor(mgr)
    lifecycle.transition(
        apps[0].id, "start_review", lifecycle.Actor(user_id(AM1), frozenset({"account_manager"}))
    )
    res = assignment.reassign(db.session, apps[0].id, user_id(AM2), actor, "调整分工")
    assert res.to_state == "under_review"  # reassign keeps the state
    sms = db.session.scalar(select(SmsMessage).order_by(SmsMessage.id.desc()))
    am2_phone = db.session.scalar(select(StaffUser.phone).where(StaffUser.username == AM2))
    assert sms.mobile == am2_phone
    with pytest.raises(assignment.AssignmentError):  # not an account manager of this branch
        assignment.reassign(db.session, apps[1].id, user_id("manager1"), actor)
    out = assignment.reassign_all(db.session, user_id(AM1), actor, None)
    assert out == {"moved": 2, "failed": 0}
    db.session.expire_all()
    assert {db.session.get(Application, a.id).manager_id for a in apps} == {user_id(AM2)}
    # another branch's manager may not reassign here
    other = db.session.scalar(select(StaffUser).where(StaffUser.username == "i03b03_mgr"))
    with pytest.raises(lifecycle.NotAllowed):
        assignment.reassign(db.session, apps[0].id, user_id(AM1), lifecycle.staff_actor(other))
