"""Create the sandbox data warehouse (ODS) and fill it with demo holdings."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import create_engine, delete, insert

from portal.integrations.ods import ODS_METADATA, ods_holding

PRODUCTS = {
    "deposit": ["活期储蓄", "整存整取一年", "大额存单"],
    "loan": ["农户小额信用贷款", "个人经营贷款"],
    "wealth": ["稳盈理财30天", "农信宝"],
}


def ensure_ods(path: str | Path):
    """The writable engine of the sandbox ODS file, tables created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}")
    ODS_METADATA.create_all(engine)
    return engine


def seed_holdings(path: str | Path, cert_nos: Iterable[str], seed: int = 7) -> int:
    """Replace the demo holdings: 1–4 products per customer, deterministic."""
    rng = random.Random(seed)
    today = dt.date.today()
    rows = []
    for cert in cert_nos:
        for _ in range(rng.randint(1, 4)):
            kind = rng.choice(list(PRODUCTS))
            rows.append(
                {
                    "cert_no": cert,
                    "kind": kind,
                    "product": rng.choice(PRODUCTS[kind]),
                    "account_no": f"62{rng.randrange(10**15, 10**16)}",
                    "balance": round(rng.uniform(1000, 300000), 2),
                    "as_of": today - dt.timedelta(days=1),
                }
            )
    engine = ensure_ods(path)
    with engine.begin() as conn:
        conn.execute(delete(ods_holding))
        for i in range(0, len(rows), 2000):
            conn.execute(insert(ods_holding), rows[i : i + 2000])
    engine.dispose()
    return len(rows)
