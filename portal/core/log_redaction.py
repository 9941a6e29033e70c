"""No personal data in logs: every log record has ID numbers and mobile numbers masked.

The portal's own log calls carry ids only, but a database or adapter error can quote a row:
PostgreSQL's "Key (id_number)=(…) already exists", COPY's "line 3: …", a driver's
parameters. The record factory masks them in the message and in the formatted traceback
before any handler sees the record, whichever library logged it (Flask, RQ, SQLAlchemy).
"""

from __future__ import annotations

import logging
import re

from portal.core.masking import mask_id_number, mask_mobile

# 18-character resident ID numbers and 11-digit mainland mobiles, not inside longer numbers
_ID = r"(?<![0-9A-Za-z])[1-9]\d{16}[\dXx](?![0-9A-Za-z])"
_MOBILE = r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])"
PATTERN = re.compile(f"(?P<id>{_ID})|(?P<mobile>{_MOBILE})")
_FORMATTER = logging.Formatter()


def redact(text: str) -> str:
    """The text with every ID number and mobile masked as on screen."""
    return PATTERN.sub(
        lambda m: mask_id_number(m["id"]) if m["id"] else mask_mobile(m["mobile"]), text
    )


def _redact_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 — a broken format string is logging's own problem
        return
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)


def install() -> None:
    """Wrap the log-record factory once per process (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "portal_redacts", False):
        return

    def make(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _redact_record(record)
        return record

    make.portal_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(make)
