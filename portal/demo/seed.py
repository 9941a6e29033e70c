"""Demo data set: an invented province with 3 banks, 12 branches, ~60 staff, 5,000 customers.

Everything is generated: ID numbers carry valid GB 11643 checksums and mobiles are
valid mainland numbers, but no record belongs to a real person. Idempotent: running
it twice adds nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from sqlalchemy import func, insert, select
from stdnum.cn import ric

from models.access.org import OrgUnit
from models.access.staff import StaffUser
from models.customers import Customer
from portal.access.permissions import (
    ROLE_ACCOUNT_MANAGER,
    ROLE_APPROVER,
    ROLE_AUDITOR,
    ROLE_BRANCH_MANAGER,
    ROLE_HQ_ADMIN,
    ROLE_INSTITUTION_ADMIN,
    ROLE_MARKETING,
)
from portal.access.staff import create_staff, hash_password
from portal.core.extensions import db
from portal.core.identity import IdentityError, parse_resident_id

PROVINCE = ("P00", "某某省农村信用社联合社")
INSTITUTIONS = [
    ("I01", "青禾农村商业银行", "440103"),
    ("I02", "丰源农村信用合作联社", "440111"),
    ("I03", "溪南村镇银行", "440303"),
]
BRANCH_NAMES = ["营业部", "城东支行", "城西支行", "河口分理处"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国建华志强春梅海燕小红文博子轩浩然欣怡梓涵雨泽"
MOBILE_PREFIXES = [
    "138",
    "139",
    "136",
    "137",
    "150",
    "151",
    "152",
    "158",
    "159",
    "182",
    "186",
    "187",
    "188",
    "135",
    "189",
    "177",
]

# fixed demo logins: username -> (roles, org code, name)
FIXED_USERS = [
    ("admin", [ROLE_HQ_ADMIN], PROVINCE[0], ("省联社", "管理员")),
    ("auditor1", [ROLE_AUDITOR], PROVINCE[0], ("审计", "一")),
    ("inst_admin", [ROLE_INSTITUTION_ADMIN], "I01", ("机构", "管理员")),
    ("marketing1", [ROLE_MARKETING], "I01", ("营销", "一")),
    ("manager1", [ROLE_ACCOUNT_MANAGER], "I01B01", ("客户经理", "一")),
    ("manager2", [ROLE_ACCOUNT_MANAGER], "I01B01", ("客户经理", "二")),
    ("approver1", [ROLE_APPROVER], "I01B01", ("审批", "一")),
    ("branch_mgr1", [ROLE_BRANCH_MANAGER], "I01B01", ("行长", "一")),
]


def make_id_number(rng: random.Random, area: str) -> tuple[str, dt.date]:
    """A valid GB 11643 number (checksum, birth date, known area) as the portal validates it."""
    while True:
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 42))
        body = f"{area}{birth:%Y%m%d}{rng.randrange(0, 1000):03d}"
        # calc_check_digit expects the full 18-character number and ignores its last character
        number = body + ric.calc_check_digit(body + "0")
        try:
            parse_resident_id(number)
        except IdentityError:
            continue
        return number, birth


def make_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"


def make_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2])))


def _node(code: str, name: str, kind: str, parent: OrgUnit | None, phone: str) -> OrgUnit:
    existing = db.session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one_or_none()
    if existing:
        return existing
    node = OrgUnit(code=code, name=name, kind=kind, parent=parent, phone=phone, active=True)
    db.session.add(node)
    db.session.flush()
    if kind == "institution":
        node.institution_id = node.id
    elif kind == "branch":
        node.institution_id = parent.id
    return node


def seed_org() -> dict[str, OrgUnit]:
    nodes = {PROVINCE[0]: _node(PROVINCE[0], PROVINCE[1], "province", None, "020-80000000")}
    for i, (code, name, _area) in enumerate(INSTITUTIONS, start=1):
        inst = _node(code, name, "institution", nodes[PROVINCE[0]], f"020-8{i}000000")
        nodes[code] = inst
        for j, bname in enumerate(BRANCH_NAMES, start=1):
            bcode = f"{code}B{j:02d}"
            nodes[bcode] = _node(bcode, f"{name[:4]}{bname}", "branch", inst, f"020-8{i}{j}00000")
    db.session.commit()
    return nodes


def seed_staff(nodes: dict[str, OrgUnit], password: str) -> int:
    pw_hash = hash_password(password)
    existing = set(db.session.execute(select(StaffUser.username)).scalars())
    created = 0
    seq = 1000

    def add(username, roles, org, names, limit=None):
        nonlocal created, seq
        seq += 1
        if username in existing:
            return
        create_staff(
            username=username,
            roles=roles,
            org_code=org,
            password_hash=pw_hash,
            last_name=names[0],
            first_name=names[1],
            staff_no=f"S{seq}",
            phone=f"139{seq:08d}",
            approval_limit=limit,
            commit=False,
        )
        existing.add(username)
        created += 1

    for username, roles, org, names in FIXED_USERS:
        limit = Decimal("200000") if ROLE_APPROVER in roles else None
        add(username, roles, org, names, limit)
    # every other branch gets 2 account managers, an approver and a branch manager;
    # every institution an admin, a marketing officer and an institution-level approver
    for code, _name, _area in INSTITUTIONS:
        if code != "I01":
            add(f"{code.lower()}_admin", [ROLE_INSTITUTION_ADMIN], code, ("机构", f"管理员{code}"))
            add(f"{code.lower()}_mkt", [ROLE_MARKETING], code, ("营销", code))
        add(f"{code.lower()}_approver", [ROLE_APPROVER], code, ("审批", code), Decimal("500000"))
        for j in range(1, len(BRANCH_NAMES) + 1):
            bcode = f"{code}B{j:02d}"
            if bcode == "I01B01":
                continue
            tag = bcode.lower()
            add(f"{tag}_am1", [ROLE_ACCOUNT_MANAGER], bcode, ("客户经理", f"{tag}-1"))
            add(f"{tag}_am2", [ROLE_ACCOUNT_MANAGER], bcode, ("客户经理", f"{tag}-2"))
            add(f"{tag}_apv", [ROLE_APPROVER], bcode, ("审批", tag), Decimal("100000"))
            add(f"{tag}_mgr", [ROLE_BRANCH_MANAGER], bcode, ("行长", tag))
    # the province's central approval queue (集中审批, see portal/demo/approvals.py)
    add("central_approver", [ROLE_APPROVER], PROVINCE[0], ("集中审批", "一"), Decimal("1000000"))
    db.session.commit()
    return created


def seed_customers(nodes: dict[str, OrgUnit], count: int, seed: int = 20261122) -> int:
    have = db.session.execute(select(func.count()).select_from(Customer)).scalar_one()
    if have >= count:
        return 0
    rng = random.Random(seed + have)
    managers: dict[int, list[int]] = {}
    for user in db.session.execute(select(StaffUser)).scalars():
        if any(r.name == ROLE_ACCOUNT_MANAGER for r in user.roles) and user.org_unit_id:
            managers.setdefault(user.org_unit_id, []).append(user.id)
    branches = [n for n in nodes.values() if n.kind == "branch"]
    area = {code: a for code, _n, a in INSTITUTIONS}
    taken = set(db.session.execute(select(Customer.id_number)).scalars())
    rows = []
    while len(rows) < count - have:
        branch = rng.choice(branches)
        inst_code = branch.code[:3]
        number, birth = make_id_number(rng, area[inst_code])
        if number in taken:
            continue
        taken.add(number)
        mgrs = managers.get(branch.id) or [None]
        rows.append(
            {
                "id_number": number,
                "name": make_name(rng),
                "mobile": make_mobile(rng),
                "birth_date": birth,
                "gender": "M" if int(number[16]) % 2 else "F",
                "branch_id": branch.id,
                "institution_id": branch.institution_id,
                "manager_id": rng.choice(mgrs),
            }
        )
    for i in range(0, len(rows), 1000):
        db.session.execute(insert(Customer), rows[i : i + 1000])
    db.session.commit()
    return len(rows)


def seed_demo(customers: int = 5000, password: str = "Demo@2026") -> dict[str, int]:
    nodes = seed_org()
    staff = seed_staff(nodes, password)
    made = seed_customers(nodes, customers)
    return {"org_units": len(nodes), "staff_created": staff, "customers_created": made}
