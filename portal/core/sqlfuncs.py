"""Portable SQL date functions (SQLite and PostgreSQL) for set-based aggregation."""

from __future__ import annotations

from sqlalchemy import Date, DateTime, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class day_of(FunctionElement):
    """The calendar date of a timestamp."""

    type = Date()
    inherit_cache = True


@compiles(day_of)
def _day_pg(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def _day_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


class hour_of(FunctionElement):
    """A timestamp truncated to the hour."""

    type = DateTime()
    inherit_cache = True


@compiles(hour_of)
def _hour_pg(element, compiler, **kw):
    return f"date_trunc('hour', {compiler.process(element.clauses, **kw)})"


@compiles(hour_of, "sqlite")
def _hour_sqlite(element, compiler, **kw):
    inner = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:00:00.000000', {inner})"


class seconds_between(FunctionElement):
    """Seconds from the first timestamp to the second."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _secs_pg(element, compiler, **kw):
    a, b = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(b, **kw)} - {compiler.process(a, **kw)}))"


@compiles(seconds_between, "sqlite")
def _secs_sqlite(element, compiler, **kw):
    a, b = list(element.clauses)
    later, earlier = compiler.process(b, **kw), compiler.process(a, **kw)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"
