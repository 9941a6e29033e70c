"""Data warehouse (ODS) reads through a second, read-only SQLAlchemy bind.

The ODS tables are not ours: they live on their own MetaData (outside the portal's
migrations) and are only read. The sandbox peer creates and fills them for the demo.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from flask import Flask
from sqlalchemy import Column, Date, MetaData, Numeric, String, Table, func, select

from portal.core.extensions import db

ODS_METADATA = MetaData()
HOLDING_KINDS = {"deposit": "存款", "loan": "贷款", "wealth": "理财"}

ods_holding = Table(
    "ods_holding",
    ODS_METADATA,
    Column("cert_no", String(18), index=True, nullable=False),  # resident ID number
    Column("kind", String(10), nullable=False),  # deposit / loan / wealth
    Column("product", String(60), nullable=False),
    Column("account_no", String(32), nullable=False),
    Column("balance", Numeric(16, 2), nullable=False),
    Column("as_of", Date, nullable=False),
)


def read_only_url(url: str) -> tuple[str, dict]:
    """The URL and engine options that make the bind read-only on SQLite and PostgreSQL."""
    if url.startswith("sqlite:///") and "mode=ro" not in url:
        path = url[len("sqlite:///") :]
        return f"sqlite:///file:{path}?mode=ro&uri=true", {}
    if url.startswith(("postgresql", "postgres")):
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url, {"connect_args": {"options": "-c default_transaction_read_only=on"}}
    return url, {}


def default_ods_path(app: Flask) -> Path:
    return Path(app.instance_path) / "sandbox" / "ods.db"


def configure_bind(app: Flask) -> None:
    url = app.config.get("ODS_DATABASE_URL") or f"sqlite:///{default_ods_path(app)}"
    ro_url, options = read_only_url(url)
    binds = dict(app.config.get("SQLALCHEMY_BINDS") or {})
    binds["ods"] = {"url": ro_url, **options}
    app.config["SQLALCHEMY_BINDS"] = binds


def engine():
    return db.engines["ods"]


def holdings(cert_no: str) -> list[dict]:
    """Every deposit, loan and wealth holding of one customer (by ID number)."""
    with engine().connect() as conn:
        rows = conn.execute(
            select(ods_holding).where(ods_holding.c.cert_no == cert_no).order_by("kind")
        ).mappings()
        return [dict(r) for r in rows]


def totals(cert_no: str) -> dict[str, Decimal]:
    """Balance per kind for one customer, e.g. {"deposit": Decimal("52000.00")}."""
    with engine().connect() as conn:
        rows = conn.execute(
            select(ods_holding.c.kind, func.sum(ods_holding.c.balance))
            .where(ods_holding.c.cert_no == cert_no)
            .group_by(ods_holding.c.kind)
        ).all()
    return {kind: Decimal(str(total)) for kind, total in rows}
