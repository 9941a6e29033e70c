"""portal.core.multirow: a few rows in one INSERT statement, each row with its own values."""

import datetime as dt

from sqlalchemy import event, select

from models.applications import ChannelRequest
from portal.core import multirow

TABLE = ChannelRequest.__table__


def _row(i: int, **extra) -> dict:
    return dict(
        channel="mbank",
        request_id=f"multirow-{i}",
        endpoint="submit",
        status_code=200 + i,
        response={"n": i, "名": "张三"},
        at=dt.datetime(2026, 11, 23, 9, 0, i % 60),
        **extra,
    )


def _inserts(db, rows):
    """The (executemany, parameter count) of every INSERT INTO channel_request sent."""
    seen: list[tuple[bool, int]] = []

    def spy(conn, cursor, statement, params, context, executemany):
        if statement.replace('"', "").lstrip().upper().startswith("INSERT INTO CHANNEL_REQUEST"):
            seen.append((executemany, len(params)))

    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        multirow.insert_rows(db.session, TABLE, rows)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    return seen


def _stored(db):
    return db.session.execute(
        select(ChannelRequest.request_id, ChannelRequest.status_code, ChannelRequest.response)
        .where(ChannelRequest.request_id.like("multirow-%"))
        .order_by(ChannelRequest.request_id)
    ).all()


def test_a_few_rows_go_in_one_statement_with_their_own_values(db):
    assert _inserts(db, [_row(1), _row(2), _row(3)]) == [(False, 18)]  # one statement, 3×6
    assert [r for r in _stored(db) if int(r.request_id.split("-")[1]) < 4] == [
        ("multirow-1", 201, {"n": 1, "名": "张三"}),
        ("multirow-2", 202, {"n": 2, "名": "张三"}),
        ("multirow-3", 203, {"n": 3, "名": "张三"}),
    ]
    assert _inserts(db, [_row(4), _row(5)]) == [(False, 12)]  # a second shape, built once
    assert [r.status_code for r in _stored(db) if r.status_code < 300] == [201, 202, 203, 204, 205]


def test_many_rows_fall_back_to_executemany_differing_columns_keep_their_own(db):
    rows = [_row(100 + i) for i in range(multirow.MAX_ROWS + 1)]
    assert _inserts(db, rows) == [(True, multirow.MAX_ROWS + 1)]
    odd = [_row(120), {**_row(121), "id": 10_021}]  # the second row sets its own id
    # one INSERT per column set: an executemany would take the first row's columns only
    assert [many for many, _n in _inserts(db, odd)] == [False, False]
    assert _inserts(db, []) == []
    stored = [r for r in _stored(db) if int(r.request_id.split("-")[1]) >= 100]
    assert len(stored) == multirow.MAX_ROWS + 3
    assert (
        db.session.scalar(
            select(ChannelRequest.id).where(ChannelRequest.request_id == odd[1]["request_id"])
        )
        == 10_021
    )
