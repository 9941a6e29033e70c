"""Every schedule of the portal, registered with RQ's own cron (`portal cron`).

Each registration enqueues ``jobs.background.schedule.run(name, slot)``; the slot ledger in
portal/background/schedules.py makes any number of cron processes give one effective run per slot.
"""

from __future__ import annotations

import logging
import os
import time

from flask import current_app
from rq import Queue
from rq.cron import CronJob, CronScheduler
from rq.serializers import JSONSerializer

from jobs.background import schedule as schedule_job
from portal.background import schedules
from portal.background.schedules import Schedule

log = logging.getLogger(__name__)


def all_schedules() -> list[Schedule]:
    cfg = current_app.config
    return [
        Schedule(
            "heartbeat",
            "jobs.background.maintenance.heartbeat",
            "心跳检测",
            interval=cfg["HEARTBEAT_INTERVAL"],
            timeout=60,
        ),
        Schedule(
            "outbox_dispatch",
            "jobs.background.outbox.dispatch",
            "发件箱分发",
            interval=cfg["OUTBOX_DISPATCH_INTERVAL"],
            ledger=False,
            timeout=300,
        ),
        Schedule(
            "outbox_reconcile",
            "jobs.background.outbox.reconcile",
            "发件箱对账恢复",
            interval=cfg["OUTBOX_RECONCILE_INTERVAL"],
            ledger=False,
            timeout=300,
        ),
        Schedule(
            "sms_receipts",
            "jobs.sms.poll_receipts",
            "短信回执拉取",
            interval=cfg["SMS_RECEIPT_INTERVAL"],
            ledger=False,
            queue="sms",
            timeout=300,
        ),
        Schedule(
            "dw_export",
            "portal.integrations.dw_export.export_for_slot",
            "数据仓库日终导出",
            cron="30 1 * * *",
            queue="batch",
            catch_up=True,
        ),
        Schedule(
            "purge",
            "jobs.background.maintenance.purge",
            "历史记录清理",
            cron="15 3 * * *",
            catch_up=True,
        ),
        *whitelist_schedules(cfg),
        *report_schedules(cfg),
        *credit_line_schedules(cfg),
        Schedule(
            "application_batch",
            "portal.applications.timeouts.run_for_slot",
            "申请超时升级与过期",
            interval=cfg["APPLICATION_BATCH_INTERVAL"],
            queue="batch",
            timeout=900,
        ),
    ]


def whitelist_schedules(cfg) -> list[Schedule]:
    """白名单: end-of-day batch, mobile-banking delta sync, two-phase campaigns, and failing
    the imports whose process died (their lease expired)."""
    return [
        Schedule(
            "import_lease_sweep",
            "portal.whitelist.lease.sweep",
            "白名单导入租约检查（失效导入置为失败）",
            interval=cfg["WHITELIST_IMPORT_SWEEP_INTERVAL"],
            ledger=False,
            timeout=300,
        ),
        Schedule(
            "whitelist_eod",
            "portal.whitelist.offers.eod_for_slot",
            "白名单日终跑批",
            cron=cfg["WHITELIST_EOD_CRON"],
            queue="batch",
            catch_up=True,
        ),
        Schedule(
            "offer_sync",
            "portal.whitelist.offer_sync.sync_for_slot",
            "白名单同步手机银行",
            interval=cfg["WHITELIST_SYNC_INTERVAL"],
            queue="integrations",
            timeout=900,
        ),
        Schedule(
            "campaign_tick",
            "portal.sms.campaigns.tick",
            "精准营销（锁定名单/发送短信）",
            interval=cfg["CAMPAIGN_TICK_INTERVAL"],
            queue="sms",
            catch_up=True,
            timeout=1800,
        ),
    ]


def report_schedules(cfg) -> list[Schedule]:
    """报表与看板: incremental summary refresh, the daily application-detail report."""
    return [
        Schedule(
            "agg_refresh",
            "portal.reports.aggregates.refresh_for_slot",
            "看板汇总增量刷新",
            interval=cfg.get("AGG_REFRESH_INTERVAL", 60),
            queue="batch",
            timeout=900,
        ),
        Schedule(
            "daily_report",
            "portal.reports.daily_report.generate_for_slot",
            "消费易申请明细报表",
            cron=cfg.get("DAILY_REPORT_CRON", "0 1 * * *"),
            queue="batch",
            catch_up=True,
        ),
    ]


def credit_line_schedules(cfg) -> list[Schedule]:
    """额度: used-amount feed from core banking; expiry in the end-of-day batch (日终跑批)."""
    return [
        Schedule(
            "credit_line_eod",
            "portal.credit.line_expiry.eod_for_slot",
            "额度日终跑批（到期失效）",
            cron=cfg["WHITELIST_EOD_CRON"],
            queue="batch",
            catch_up=True,
        ),
        Schedule(
            "core_usage",
            "portal.credit.usage_feed.pull_for_slot",
            "额度使用情况同步（核心）",
            interval=cfg.get("CORE_USAGE_INTERVAL", 300),
            queue="integrations",
            timeout=900,
        ),
    ]


def schedule_by_name(name: str) -> Schedule:
    for s in all_schedules():
        if s.name == name:
            return s
    raise KeyError(name)


def _enqueue(connection, schedule: Schedule, slot: str | None, catch_up: bool = False):
    queue = Queue(schedule.queue, connection=connection, serializer=JSONSerializer)
    return queue.enqueue(
        "jobs.background.schedule.run",
        args=(schedule.name, slot, catch_up),
        job_timeout=schedule.timeout,
        result_ttl=3600,
        failure_ttl=7 * 86400,
        description=f"schedule {schedule.name} {slot or ''}".strip(),
    )


class SlotCronJob(CronJob):
    """Enqueues with the JSON serializer and names the slot this firing belongs to."""

    schedule: Schedule
    app = None

    def enqueue(self, connection):
        with self.app.app_context():
            slot = None
            if self.schedule.ledger:
                slot = schedules.slot_at(self.schedule, schedules.local_now()).isoformat()
            job = _enqueue(connection, self.schedule, slot)
        connection.zadd(self.job_history_key, {job.id: job.enqueued_at.timestamp()})
        connection.zremrangebyrank(self.job_history_key, 0, -51)
        return job


def register_all(scheduler: CronScheduler, app) -> None:
    with app.app_context():
        for s in all_schedules():
            job = scheduler.register(
                schedule_job.run,
                queue_name=s.queue,
                interval=s.interval,
                cron=s.cron,
                name=s.name,
            )
            job.__class__ = SlotCronJob
            job.schedule, job.app = s, app


def catch_up(app) -> int:
    """Enqueue every slot missed while no cron process ran (the ledger dedups)."""
    n = 0
    with app.app_context():
        conn = app.extensions["redis"]
        for s in all_schedules():
            for slot in schedules.missed_slots(s):
                _enqueue(conn, s, slot.isoformat(), catch_up=True)
                n += 1
        if n:
            log.warning("cron: caught up %s missed slot(s)", n)
    return n


def run_cron(app) -> None:
    # RQ evaluates cron expressions in the process's local time: make that business time.
    os.environ["TZ"] = app.config["PORTAL_TIMEZONE"]
    time.tzset()
    from redis.exceptions import RedisError

    while True:  # survive a Redis restart: re-register and catch up, never die
        try:
            catch_up(app)
            scheduler = CronScheduler(connection=app.extensions["redis"], logging_level="INFO")
            register_all(scheduler, app)
            scheduler.start()
            return
        except RedisError:  # connection lost, timeout, a restarted server…
            log.warning("cron: Redis unavailable, retrying in 1s")
            time.sleep(1)
