"""Job monitor, SMS template and message-log pages: who reaches them and what they do."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from models.background import OutboxItem
from models.sms.messages import SmsMessage, SmsTemplate
from portal.background import outbox

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sms_templates")]


@pytest.fixture(autouse=True)
def clean(db):
    db.session.execute(delete(OutboxItem))
    db.session.commit()
    yield


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("hq_admin", True),
        ("institution_admin", True),
        ("data_marketing", False),
        ("account_manager", False),
        ("approver", False),
        ("branch_manager", False),
        ("auditor", False),
    ],
)
def test_only_admins_reach_the_job_monitor(client_for, role, allowed):
    resp = client_for(role).get("/jobs/")
    if allowed:
        assert resp.status_code == 200 and "作业监控" in resp.text and "定时任务" in resp.text
    else:
        assert resp.status_code in (302, 403)


def test_anonymous_gets_nothing(anon_client):
    for url in ("/jobs/", "/sms/templates/list/", "/sms/messages/list/"):
        resp = anon_client.get(url)
        assert resp.status_code in (302, 401, 403)


def test_monitor_shows_schedules_and_dead_letters_and_retry_works(admin_client, db):
    outbox.add(db.session, "mbank.offers", "offers:dead", payload={"offers": []})
    db.session.commit()
    item = db.session.scalar(select(OutboxItem))
    item.state, item.attempts, item.last_error = "dead", 6, "HTTP 500 from /mbank/offers"
    db.session.commit()
    page = admin_client.get("/jobs/").text
    for text in ("数据仓库日终导出", "心跳检测", "发件箱分发", "offers:dead", "重新发送"):
        assert text in page
    resp = admin_client.post("/jobs/outbox/retry", data={"id": str(item.id)})
    assert resp.status_code == 302
    db.session.refresh(item)
    assert item.state == "pending" and item.attempts == 0


def test_institution_admin_cannot_retry_or_requeue(inst_admin_client, db):
    outbox.add(db.session, "mbank.offers", "offers:dead2", payload={"offers": []})
    db.session.commit()
    item = db.session.scalar(select(OutboxItem))
    item.state = "dead"
    db.session.commit()
    assert "重新发送" not in inst_admin_client.get("/jobs/").text
    resp = inst_admin_client.post("/jobs/outbox/retry", data={"id": str(item.id)})
    assert resp.status_code in (302, 403)
    db.session.refresh(item)
    assert item.state == "dead"


def test_failed_job_can_be_requeued(admin_client, app, redis):
    from rq import Queue
    from rq.serializers import JSONSerializer

    from jobs.background.worker import run_worker

    q = Queue("default", connection=redis, serializer=JSONSerializer)
    job = q.enqueue("jobs.background.maintenance.no_such_function")
    run_worker(app, ["default"], burst=True)
    assert job.id in q.failed_job_registry.get_job_ids()
    assert job.id in admin_client.get("/jobs/").text
    admin_client.post(f"/jobs/requeue/{job.id}")
    assert job.id in q.job_ids


def test_template_with_unknown_variable_is_refused_on_save(admin_client, db):
    resp = admin_client.post(
        "/sms/templates/add",
        data={
            "code": "bad_tpl",
            "name": "坏模板",
            "category": "notice",
            "body": "您好{{ id_number }}",
            "variables": "id_number",
            "active": "y",
        },
    )
    assert "不支持的变量" in resp.text
    assert db.session.scalar(select(SmsTemplate).where(SmsTemplate.code == "bad_tpl")) is None
    resp = admin_client.post(
        "/sms/templates/add",
        data={
            "code": "good_tpl",
            "name": "好模板",
            "category": "notice",
            "body": "您好{{ customer_name }}",
            "variables": "customer_name",
            "active": "y",
        },
    )
    assert resp.status_code == 302
    db.session.execute(delete(SmsTemplate).where(SmsTemplate.code == "good_tpl"))
    db.session.commit()


def test_message_log_masks_mobiles(admin_client, db):
    db.session.add(
        SmsMessage(
            mobile="13812345678",
            content="测试",
            category="notice",
            state="sent",
            institution_id=None,
        )
    )
    db.session.commit()
    page = admin_client.get("/sms/messages/list/").text
    assert "138****5678" in page and "13812345678" not in page
    db.session.execute(delete(SmsMessage))
    db.session.commit()
