"""RQ queues by purpose, on the portal's Redis, with a JSON serializer (never pickle)."""

from __future__ import annotations

from flask import current_app
from rq import Queue
from rq.serializers import JSONSerializer

QUEUE_NAMES = ("default", "sms", "batch", "integrations")


def get_queue(name: str = "default", connection=None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    conn = connection or current_app.extensions["redis"]
    return Queue(name, connection=conn, serializer=JSONSerializer)
