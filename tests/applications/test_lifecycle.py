"""The application lifecycle: every (state, action, actor role, related-or-not) combination
is tried against `lifecycle.transition`; the expected outcome is written out by hand below,
independently of the module's table. Illegal transitions accepted must be 0."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import func, select

from models.applications import Application, ApplicationEvent
from models.background import OutboxItem
from portal.applications import lifecycle
from portal.applications.lifecycle import ACTIONS, STATES, Actor
from tests.support.applications import make_application, org_id, user_id

OPEN = ("assigned", "under_review", "need_info")

# actor variants: name -> (roles, username, reviewer on the application)
# "related" means: the assigned manager (am_owner), in the application's branch (bm_same),
# or someone who already reviewed it (apv_reviewed).
ACTORS = {
    "system": ({"system"}, None, "manager1"),
    "channel": ({"channel"}, None, "manager1"),
    "am_owner": ({"account_manager"}, "manager1", "manager1"),
    "am_other": ({"account_manager"}, "manager2", "manager1"),
    "bm_same": ({"branch_manager"}, "branch_mgr1", "manager1"),
    "bm_other": ({"branch_manager"}, "i01b02_mgr", "manager1"),
    "apv_fresh": ({"approver"}, "approver1", "manager1"),
    "apv_reviewed": ({"approver"}, "approver1", "approver1"),
    "marketing": ({"data_marketing"}, "marketing1", "manager1"),
}

# the specification, by hand: who may take which action in which state
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("submitted", "assign"): {"system", "bm_same"},
    ("assigned", "start_review"): {"am_owner"},
    ("under_review", "request_info"): {"am_owner"},
    ("need_info", "info_received"): {"am_owner"},
    ("under_review", "pass"): {"am_owner"},
    ("review_passed", "submit_approval"): {"system"},
    ("in_approval", "approve"): {"apv_fresh"},
    ("in_approval", "approval_reject"): {"apv_fresh"},
    ("in_approval", "approve_step"): {"apv_fresh"},
    ("in_approval", "approval_escalate"): {"apv_fresh"},
    ("approved", "disburse"): {"system"},
    ("disbursing", "disbursed"): {"system"},
    ("disbursing", "disburse_fail"): {"system"},
    ("disbursement_failed", "retry_disburse"): {"bm_same", "apv_fresh", "apv_reviewed"},
    ("submitted", "expire"): {"system"},
    ("need_info", "expire"): {"system"},
}
for _s in OPEN:
    ALLOWED[(_s, "reassign")] = {"system", "bm_same"}
    ALLOWED[(_s, "reject")] = {"am_owner"}
for _s in ("submitted", *OPEN):
    ALLOWED[(_s, "withdraw")] = {"channel"}
    ALLOWED[(_s, "escalate")] = {"system"}

EXPECTED_TARGET = {
    "assign": "assigned",
    "start_review": "under_review",
    "request_info": "need_info",
    "info_received": "under_review",
    "pass": "review_passed",
    "reject": "rejected",
    "submit_approval": "in_approval",
    "approve": "approved",
    "approval_reject": "rejected",
    "disburse": "disbursing",
    "disbursed": "active",
    "disburse_fail": "disbursement_failed",
    "retry_disburse": "disbursing",
    "withdraw": "withdrawn",
    "expire": "expired",
}


def _actor(name: str) -> Actor:
    roles, username, _ = ACTORS[name]
    if username is None:
        return Actor(None, frozenset(roles))
    from models.access.staff import StaffUser
    from portal.core.extensions import db

    u = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    return Actor(u.id, frozenset(roles), u.org_unit_id)


def test_every_state_action_role_combination(db, templates):
    apps = {}
    for state in STATES:
        for reviewer in ("manager1", "approver1"):
            apps[(state, reviewer)] = make_application(state, "manager1", reviewer=reviewer)
    actors = {name: _actor(name) for name in ACTORS}
    tried = accepted_illegal = refused_legal = 0
    wrong_target = []
    for state, action, name in itertools.product(
        STATES, [a for a in ACTIONS if a != "submit"], ACTORS
    ):
        app_id = apps[(state, ACTORS[name][2])]
        legal = name in ALLOWED.get((state, action), set())
        tried += 1
        try:
            result = lifecycle.transition(
                app_id, action, actors[name], "测试原因", session=db.session, commit=False
            )
        except lifecycle.TransitionError:
            db.session.rollback()
            refused_legal += legal
            continue
        accepted_illegal += not legal
        expected = EXPECTED_TARGET.get(action, state)
        if result.to_state != expected:
            wrong_target.append((state, action, name, result.to_state))
        db.session.rollback()  # every attempt starts from the same state
    print(
        f"\nlifecycle: {tried} combinations, illegal accepted = {accepted_illegal}, "
        f"legal refused = {refused_legal}"
    )
    assert accepted_illegal == 0
    assert refused_legal == 0
    assert not wrong_target, wrong_target
    # the declared table says exactly what the hand-written specification says
    declared = {k for k, rule in lifecycle.TRANSITIONS.items()}
    assert declared == set(ALLOWED)


def test_transition_writes_event_version_and_status_push(db, templates):
    app_id = make_application("assigned")
    actor = _actor("am_owner")
    result = lifecycle.transition(app_id, "start_review", actor, None, expected_version=1)
    assert (result.from_state, result.to_state, result.version) == ("assigned", "under_review", 2)
    app = db.session.get(Application, app_id)
    assert (app.state, app.version) == ("under_review", 2)
    ev = db.session.scalars(
        select(ApplicationEvent).where(ApplicationEvent.application_id == app_id)
    ).all()[-1]
    assert (ev.action, ev.from_state, ev.to_state, ev.actor_id) == (
        "start_review",
        "assigned",
        "under_review",
        actor.user_id,
    )
    push = db.session.scalar(
        select(OutboxItem).where(OutboxItem.idempotency_key == f"mbank:app:{app_id}:v2")
    )
    assert push.payload["status"] == "reviewing"
    assert "id_number" not in push.payload and "mobile" not in push.payload
    with pytest.raises(lifecycle.Conflict):  # stale version from an old page
        lifecycle.transition(app_id, "pass", actor, None, expected_version=1)


def test_reject_needs_reason_and_texts_customer_with_branch_phone(db, templates):
    from models.sms.messages import SmsMessage

    app_id = make_application("under_review")
    with pytest.raises(lifecycle.ReasonRequired):
        lifecycle.transition(app_id, "reject", _actor("am_owner"), " ")
    lifecycle.transition(app_id, "reject", _actor("am_owner"), "收入不足", reason_code="income_low")
    app = db.session.get(Application, app_id)
    assert app.state == "rejected" and app.closed_at and app.reason_code == "income_low"
    msg = db.session.scalar(select(SmsMessage).where(SmsMessage.customer_id == app.customer_id))
    from models.access.org import OrgUnit

    phone = db.session.get(OrgUnit, org_id("I01B01")).phone
    assert phone and phone in msg.content and msg.category == "notice"


def test_concurrent_passes_one_transition(app, db, templates):
    """20 threads pass the same application at once: exactly one transition happens."""
    app_id = make_application("under_review")
    actor = _actor("am_owner")
    outcomes, barrier = [], threading.Barrier(20)

    def click():
        with app.app_context():
            from portal.core.extensions import db as _db

            barrier.wait()
            try:
                lifecycle.transition(app_id, "pass", actor, None, expected_version=1)
                outcomes.append("ok")
            except lifecycle.TransitionError as exc:
                outcomes.append(exc.code)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=click) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    n = db.session.scalar(
        select(func.count())
        .select_from(ApplicationEvent)
        .where(ApplicationEvent.application_id == app_id, ApplicationEvent.action == "pass")
    )
    assert n == 1
    assert user_id("manager1") == actor.user_id
