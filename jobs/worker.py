"""The worker: builds the app once and runs every job inside its app context."""

from __future__ import annotations

import time

from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from portal.queues import QUEUE_NAMES, get_queue


class AppContextWorker(SimpleWorker):
    """SimpleWorker (no fork per job) that executes each job in a fresh app context."""

    flask_app = None

    def execute_job(self, job, queue):
        with self.flask_app.app_context():
            try:
                return super().execute_job(job, queue)
            finally:
                from portal.extensions import db

                db.session.remove()


def run_worker(app, queues: list[str] | None = None, burst: bool = False) -> bool:
    names = queues or list(QUEUE_NAMES)
    with app.app_context():
        qs = [get_queue(n) for n in names]
    AppContextWorker.flask_app = app
    from redis.exceptions import ConnectionError as RedisConnectionError

    while True:  # a Redis restart must not end the worker: start a fresh one
        worker = AppContextWorker(qs, connection=app.extensions["redis"], serializer=JSONSerializer)
        try:
            # no RQ scheduler: it runs in a forked child that inherits the database pool and
            # outlives a killed worker; the portal's schedules live in `portal cron`
            return worker.work(burst=burst, with_scheduler=False)
        except RedisConnectionError:
            if burst:
                raise
            time.sleep(1)
