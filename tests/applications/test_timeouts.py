"""The application batch: untouched work is escalated once, abandoned need-info applications
expire (and mobile banking is told); fresh applications are left alone."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from models.applications import Application, ApplicationEvent
from models.background import OutboxItem
from portal.applications import timeouts as application_batch
from tests.support.applications import make_application

pytestmark = pytest.mark.usefixtures("templates")  # SMS templates (conftest)


def _age(db, app_id: int, minutes: int) -> None:
    then = dt.datetime.now() - dt.timedelta(minutes=minutes)
    db.session.execute(
        update(Application).where(Application.id == app_id).values(last_action_at=then)
    )
    db.session.commit()


def test_escalate_once_and_expire_abandoned(db):
    stale = make_application("assigned")
    fresh = make_application("assigned")
    abandoned = make_application("need_info")
    waiting = make_application("need_info")
    _age(db, stale, 180)  # default escalation: 120 minutes
    _age(db, abandoned, 73 * 60)  # default expiry: 72 hours
    _age(db, waiting, 130)  # escalated, not yet expired
    application_batch.run(db.session)
    db.session.expire_all()
    get = lambda i: db.session.get(Application, i)  # noqa: E731
    assert get(stale).escalated_at and get(stale).state == "assigned"
    assert get(fresh).escalated_at is None
    assert get(abandoned).state == "expired" and get(abandoned).closed_at
    assert get(waiting).state == "need_info" and get(waiting).escalated_at
    push = db.session.scalar(
        select(OutboxItem).where(
            OutboxItem.ref_id == abandoned, OutboxItem.kind == "mbank.application_status"
        )
    )
    assert push.payload["status"] == "expired"
    _age(db, stale, 400)
    application_batch.run(db.session)
    escalations = db.session.scalars(
        select(ApplicationEvent.action).where(
            ApplicationEvent.application_id == stale, ApplicationEvent.action == "escalate"
        )
    ).all()
    assert escalations == ["escalate"]


def test_escalated_items_show_on_branch_managers_workbench(db, client_for):
    stale = make_application("under_review")
    _age(db, stale, 500)
    application_batch.run(db.session)
    app_no = db.session.get(Application, stale).app_no
    body = client_for("branch_manager").get("/workbench/?kind=escalated").get_data(as_text=True)
    assert app_no in body and "已升级" in body
