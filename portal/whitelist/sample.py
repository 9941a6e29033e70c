"""Sample whitelist workbooks (示例白名单) for the demo, the README, tests and the benchmark.

Everything is invented: ID numbers carry valid GB 11643 checksums and registered
area codes, mobiles are valid mainland numbers; no row belongs to a real person.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

from openpyxl import Workbook
from stdnum.cn import ric

from portal.whitelist.columns import HEADERS, SHEET

AREAS = ("440103", "440104", "440106", "440111", "440303", "440304", "440105", "440112")
PREFIXES = ("138", "139", "136", "137", "150", "151", "152", "158", "159", "186", "187", "188")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉萍红玲芬燕彬鹏辉"


def _valid_area_years() -> list[tuple[str, int]]:
    out = []
    for area in AREAS:
        for year in range(1965, 2002):
            try:
                ric.get_birth_place(f"{area}{year}0101000X")
                out.append((area, year))
            except Exception:
                continue
    return out


def id_numbers(rng: random.Random) -> Iterator[str]:
    """Endless unique valid resident ID numbers."""
    pairs = _valid_area_years()
    seen: set[str] = set()
    while True:
        area, year = rng.choice(pairs)
        body = f"{area}{year}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(0, 1000):03d}"
        check = (1 - 2 * int(body, 13)) % 11
        number = body + ("X" if check == 10 else str(check))
        if number not in seen:
            seen.add(number)
            yield number


def rows(
    n: int,
    branches: list[str],
    products: list[tuple[str, float, float, float, float]],
    seed: int = 4,
    today: dt.date | None = None,
) -> Iterator[list]:
    """n data rows: products are (code, limit_min, limit_max, rate_min, rate_max)."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    ids = id_numbers(rng)
    for _ in range(n):
        code, lmin, lmax, rmin, rmax = rng.choice(products)
        yield [
            next(ids),
            rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
            rng.choice(PREFIXES) + f"{rng.randrange(10**8):08d}",
            rng.choice(branches),
            code,
            float(round(rng.uniform(lmin, lmax) / 1000) * 1000),
            round(rng.uniform(rmin, rmax), 2),
            (today + dt.timedelta(days=rng.randrange(30, 170))).isoformat(),
            "",
        ]


def write_workbook(path: Path, data: Iterator[list] | list[list], headers=None) -> Path:
    """A whitelist workbook in the template's format (streamed: any size)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET)
    ws.append(list(headers or HEADERS))
    for row in data:
        ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
