"""No personal data in logs: ID numbers and mobiles are masked in every log record, its
arguments and its traceback, whichever library logs it; SQL errors do not quote parameters."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from models.customers import Customer
from portal.core.log_redaction import redact

ID = "11010519491231002X"
MOBILE = "13812345678"


@pytest.fixture()
def captured(app):
    """A handler on a library logger (not the portal's), as RQ or SQLAlchemy would log."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("some.library")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield log, stream
    log.removeHandler(handler)


def test_message_args_and_traceback_are_masked(captured):
    log, stream = captured
    log.info("customer %s called from %s", ID, MOBILE)
    try:
        raise ValueError(f"duplicate key: Key (id_number)=({ID}) mobile {MOBILE}")
    except ValueError:
        log.exception("import failed")
    out = stream.getvalue()
    assert ID not in out and MOBILE not in out
    assert "1101**********002X" in out and "138****5678" in out
    assert "Traceback" in out and "duplicate key" in out  # the rest of the story is kept


def test_other_numbers_are_left_alone():
    text = "application AP2611224F3A9C amount 20000.00 ref 1234567890123456789012 id 42"
    assert redact(text) == text
    assert redact(f"{ID}, {MOBILE}") == "1101**********002X, 138****5678"


def test_sql_errors_do_not_quote_parameters(app, db, captured):
    log, stream = captured
    existing = db.session.query(Customer).first()
    try:
        db.session.execute(
            insert(Customer.__table__).values(
                id_number=existing.id_number,
                name="重复",
                branch_id=existing.branch_id,
                institution_id=existing.institution_id,
            )
        )
        raise AssertionError("the unique ID number was not enforced")
    except IntegrityError as exc:
        db.session.rollback()
        assert existing.id_number not in str(exc).split("[SQL:")[-1]  # no [parameters: …]
        log.exception("insert failed")
    assert existing.id_number not in stream.getvalue()
