"""作业监控: queues, workers, running/failed jobs, schedules, outbox (admins only)."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access

from portal.access import audit
from portal.access.permissions import METHOD_PERMISSION_NAME, RESOURCE_JOB_MONITOR
from portal.access.scoping import current_scope
from portal.background import job_monitor, outbox
from portal.core.extensions import db


class JobMonitorView(BaseView):
    route_base = "/jobs"
    default_view = "index"
    class_permission_name = RESOURCE_JOB_MONITOR
    method_permission_name = {
        **METHOD_PERMISSION_NAME,
        "index": "read",
        "requeue": "edit",
        "retry_dead": "edit",
    }

    @expose("/")
    @has_access
    def index(self):
        can_edit = self.appbuilder.sm.has_access("can_edit", RESOURCE_JOB_MONITOR)
        return self.render_template(
            "portal/job_monitor.html",
            queues=job_monitor.queues(),
            workers=job_monitor.workers(),
            running=job_monitor.jobs("started"),
            failed=job_monitor.jobs("failed"),
            schedules=job_monitor.schedule_rows(),
            outbox=job_monitor.outbox_overview(),
            can_edit=can_edit,
        )

    @expose("/requeue/<job_id>", methods=["POST"])
    @has_access
    def requeue(self, job_id: str):
        if job_monitor.requeue(job_id):
            audit.record(db.session, "job_requeue", "rq_job", job_id)
            db.session.commit()
            flash("作业已重新排队", "success")
        else:
            flash("未找到该失败作业", "warning")
        return redirect(url_for("JobMonitorView.index"))

    @expose("/outbox/retry", methods=["POST"])
    @has_access
    def retry_dead(self):
        ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]
        if request.form.get("all"):
            dead = job_monitor.outbox_overview(limit=10_000, scope=current_scope())["dead"]
            ids = [item.id for item in dead]
        n = outbox.retry_dead(db.session, ids)
        audit.record(db.session, "outbox_retry", "outbox_item", None, {"ids": ids[:100], "n": n})
        db.session.commit()
        outbox.kick()
        flash(f"已重新发送 {n} 条死信", "success")
        return redirect(url_for("JobMonitorView.index"))
