"""The worker: builds the app once and runs every job inside its app context."""

from __future__ import annotations

import logging
import time

from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from portal.background.rq_queues import QUEUE_NAMES, get_queue

log = logging.getLogger(__name__)


class AppContextWorker(SimpleWorker):
    """SimpleWorker (no fork per job) that executes each job in a fresh app context."""

    flask_app = None

    def execute_job(self, job, queue):
        with self.flask_app.app_context():
            try:
                return super().execute_job(job, queue)
            finally:
                from portal.core.extensions import db

                db.session.remove()

    def unsubscribe(self):
        """RQ stops its pubsub thread with redis-py's stop(), which (recent redis-py) joins the thread
        without a bound while it may wait up to 60 s in get_message: a worker asked to stop
        then hung for a minute after "warm shut down requested". Bounded here (the thread is
        a daemon)."""
        thread = self.pubsub_thread
        if thread is None:
            return
        self.pubsub.unsubscribe()
        try:
            thread.stop(timeout=1)
        except TypeError:  # older redis-py: stop() only clears the flag
            thread.stop()
        thread.join(timeout=1)


def run_worker(app, queues: list[str] | None = None, burst: bool = False) -> bool:
    names = queues or list(QUEUE_NAMES)
    with app.app_context():
        qs = [get_queue(n) for n in names]
    AppContextWorker.flask_app = app
    if not burst:
        _sweep_dead_imports(app)
    from redis.exceptions import RedisError
    from rq.exceptions import StopRequested

    last = None  # the RQ worker whose signal handlers are installed
    while True:  # a Redis outage must not end the worker: start a fresh one
        worked = False
        try:
            worker = AppContextWorker(
                qs, connection=app.extensions["redis"], serializer=JSONSerializer
            )
            last = worker
            # no RQ scheduler: it runs in a forked child that inherits the database pool and
            # outlives a killed worker; the portal's schedules live in `portal cron`
            worked = worker.work(burst=burst, with_scheduler=False)
        except RedisError:  # connection lost, timeout, a restarted server…
            if burst:
                raise
        except StopRequested:  # SIGTERM between two RQ workers
            return False
        # RQ leaves its loop (and returns) on any unexpected error, e.g. Redis vanishing
        # while it records a job's result; only a stop request or a burst ends the worker
        if burst or _stop_was_requested(last):
            return bool(worked)
        log.warning("RQ worker loop ended without a stop request; starting a new one")
        try:
            time.sleep(1)
        except StopRequested:
            return False


def _sweep_dead_imports(app) -> None:
    """A worker starting (perhaps restarted after its predecessor died mid-import) fails the
    imports whose lease has expired at once, not at the next `portal cron` sweep."""
    from portal.core.extensions import db
    from portal.whitelist.lease import sweep

    with app.app_context():
        try:
            sweep()
        except Exception:  # noqa: BLE001 — the cron sweep tries again; the worker must start
            log.exception("sweeping dead whitelist imports failed")
        finally:
            db.session.remove()


def _stop_was_requested(worker) -> bool:
    """SIGTERM/SIGINT reached this RQ worker: when idle RQ raises StopRequested out of its loop
    without setting `_stop_requested` (that flag is only for a busy worker), so the request's
    date is what tells."""
    return worker is not None and (
        worker._stop_requested or worker._shutdown_requested_date is not None
    )
