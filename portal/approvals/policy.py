"""Approval policies (审批策略) as data: bands of amounts, each a chain of steps.

A policy applies to one institution (or the whole province) × product (or every
product) × purpose. Its bands are half-open on the left, ``min < amount ≤ max``, start
at 0 and follow each other without gaps or overlaps. Each step says where its queue
lives (the application's branch, the institution, or the province's central queue)
and the step's authority limit. Saving writes a new version and retires the old one;
cases keep the version they started with. The mode (网点直批 / 多级审批 / 集中审批)
is read off the steps, so it can never disagree with them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models.approvals import ApprovalPolicy

QUEUE_WORDS = {
    "网点": "branch",
    "branch": "branch",
    "机构": "institution",
    "法人机构": "institution",
    "institution": "institution",
    "集中": "central",
    "省联社": "central",
    "central": "central",
}
QUEUE_TEXT = {"branch": "网点", "institution": "机构", "central": "集中"}
MAX_AMOUNT = Decimal("99999999.99")
DEFAULT_CODE = "DEFAULT"


class PolicyError(ValueError):
    """A policy that cannot be saved; the message is Chinese and names the line."""


@dataclass(frozen=True)
class Step:
    queue: str
    limit: Decimal
    role: str = "approver"


def _money(text: str, line: int) -> Decimal:
    try:
        value = Decimal(text.replace(",", "").replace("，", ""))
    except InvalidOperation:
        raise PolicyError(f"第 {line} 行：金额“{text}”不是数字") from None
    if value < 0 or value > MAX_AMOUNT or value != value.quantize(Decimal("0.01")):
        raise PolicyError(f"第 {line} 行：金额“{text}”超出范围")
    return value


_LINE = re.compile(r"^\s*([\d.,，]+)\s*[-~—至]\s*([\d.,，]+)\s*[:：]\s*(.+?)\s*$")


def parse_bands(text: str) -> list[dict]:
    """Editor text → bands. One band a line: ``0-50000: 网点 50000 > 机构 500000``."""
    bands = []
    lines = [(i, ln) for i, ln in enumerate((text or "").splitlines(), 1) if ln.strip()]
    if not lines:
        raise PolicyError("请至少填写一个金额段")
    for no, ln in lines:
        m = _LINE.match(ln)
        if not m:
            raise PolicyError(f"第 {no} 行格式应为“下限-上限: 网点 50000 > 机构 500000”")
        lo, hi = _money(m.group(1), no), _money(m.group(2), no)
        steps = []
        for part in re.split(r"\s*[>＞→]\s*", m.group(3)):
            words = part.split()
            if len(words) != 2 or words[0] not in QUEUE_WORDS:
                raise PolicyError(f"第 {no} 行：审批环节“{part}”应为“网点/机构/集中 权限金额”")
            limit = _money(words[1], no)
            if limit <= 0:
                raise PolicyError(f"第 {no} 行：审批权限须大于 0")
            steps.append({"queue": QUEUE_WORDS[words[0]], "role": "approver", "limit": str(limit)})
        bands.append({"min": str(lo), "max": str(hi), "steps": steps, "line": no})
    validate(bands)
    for b in bands:
        b.pop("line", None)
    return bands


def validate(bands: list[dict], product_max: Decimal | None = None) -> None:
    """Refuse gaps, overlaps, empty bands and chains whose last step cannot approve the band."""
    previous = Decimal(0)
    for i, band in enumerate(bands):
        where = f"第 {band.get('line', i + 1)} 行"
        lo, hi = Decimal(band["min"]), Decimal(band["max"])
        if hi <= lo:
            raise PolicyError(f"{where}：上限须大于下限")
        if i == 0 and lo != 0:
            raise PolicyError(f"{where}：第一个金额段须从 0 开始")
        if lo > previous:
            raise PolicyError(f"{where}：金额段之间有空档（{previous} 至 {lo} 无审批规则）")
        if lo < previous:
            raise PolicyError(f"{where}：金额段重叠（{lo} 至 {previous} 被两个金额段覆盖）")
        if not band["steps"]:
            raise PolicyError(f"{where}：至少需要一个审批环节")
        if Decimal(band["steps"][-1]["limit"]) < hi:
            raise PolicyError(f"{where}：末级审批权限低于该金额段上限 {hi}")
        previous = hi
    if product_max is not None and previous < product_max:
        raise PolicyError(f"金额段只覆盖到 {previous}，产品额度上限为 {product_max}")


def format_bands(bands: list[dict]) -> str:
    """Bands → editor text (the inverse of :func:`parse_bands`)."""
    out = []
    for b in bands:
        steps = " > ".join(f"{QUEUE_TEXT[s['queue']]} {Decimal(s['limit']):f}" for s in b["steps"])
        out.append(f"{Decimal(b['min']):f}-{Decimal(b['max']):f}: {steps}")
    return "\n".join(out)


def mode_of(bands: list[dict]) -> str:
    steps = [s for b in bands for s in b["steps"]]
    if all(s["queue"] == "central" for s in steps):
        return "central"
    if all(len(b["steps"]) == 1 and b["steps"][0]["queue"] == "branch" for b in bands):
        return "direct"
    if all(len(b["steps"]) > 1 for b in bands):
        return "multi"
    return "mixed"


def save(
    session: Session,
    *,
    name: str,
    bands_text: str,
    institution_id: int | None,
    product_id: int | None,
    purpose: str = "application",
    disbursement: str = "auto",
    actor_id: int | None = None,
    previous: ApprovalPolicy | None = None,
    code: str | None = None,
) -> ApprovalPolicy:
    """Validate and write a policy (a new version when `previous` is given); no commit.
    `code` names a new policy (e.g. the demo's stable codes); by default a random one."""
    from models.whitelist import Product

    name = (name or "").strip()
    if not 2 <= len(name) <= 60:
        raise PolicyError("请填写策略名称（2–60 个字）")
    if purpose not in ("application", "limit_adjust"):
        raise PolicyError("审批用途无效")
    if disbursement not in ("auto", "batch"):
        raise PolicyError("出账方式无效")
    bands = parse_bands(bands_text)
    if product_id is not None:
        product = session.get(Product, product_id)
        if product is None or (institution_id and product.institution_id != institution_id):
            raise PolicyError("产品不属于所选机构")
        validate(bands, product.limit_max)
    clash = select(ApprovalPolicy.id).where(
        ApprovalPolicy.active.is_(True),
        ApprovalPolicy.purpose == purpose,
        _eq(ApprovalPolicy.institution_id, institution_id),
        _eq(ApprovalPolicy.product_id, product_id),
    )
    if previous is not None:
        clash = clash.where(ApprovalPolicy.code != previous.code)
    if session.scalar(clash) is not None:
        raise PolicyError("该机构、产品与用途已有生效的审批策略，请编辑该策略")
    if previous is not None:
        retired = session.execute(
            update(ApprovalPolicy)
            .where(ApprovalPolicy.id == previous.id, ApprovalPolicy.active.is_(True))
            .values(active=False)
        ).rowcount
        if retired != 1:
            raise PolicyError("该策略已被他人修改，请刷新后重试")
    policy = ApprovalPolicy(
        code=previous.code if previous else code or "AP" + secrets.token_hex(5).upper(),
        version=previous.version + 1 if previous else 1,
        name=name,
        purpose=purpose,
        institution_id=institution_id,
        product_id=product_id,
        mode=mode_of(bands),
        disbursement=disbursement,
        bands=bands,
        active=True,
        created_by=actor_id,
        created_at=dt.datetime.now(),
    )
    session.add(policy)
    session.flush()
    from portal.access import audit

    audit.record(
        session,
        "approval_policy_saved",
        "approval_policy",
        policy.id,
        {
            "code": policy.code,
            "version": policy.version,
            "mode": policy.mode,
            "bands": format_bands(bands),
        },
    )
    return policy


def _eq(col, value):
    return col.is_(None) if value is None else col == value


def default_policy(session: Session) -> ApprovalPolicy:
    """The province-wide fallback: one step at the branch (escalation climbs the org tree)."""
    found = session.scalar(
        select(ApprovalPolicy).where(
            ApprovalPolicy.code == DEFAULT_CODE, ApprovalPolicy.active.is_(True)
        )
    )
    if found is None:
        bands = [
            {
                "min": "0",
                "max": str(MAX_AMOUNT),
                "steps": [{"queue": "branch", "role": "approver", "limit": str(MAX_AMOUNT)}],
            }
        ]
        found = ApprovalPolicy(
            code=DEFAULT_CODE,
            version=1,
            name="默认：网点审批",
            purpose="application",
            mode="direct",
            disbursement="auto",
            bands=bands,
            active=True,
            created_at=dt.datetime.now(),
        )
        session.add(found)
        session.flush()
    return found


def resolve(
    session: Session, institution_id: int, product_id: int, amount: Decimal, purpose: str
) -> tuple[ApprovalPolicy, int]:
    """The active policy most specific to institution × product × purpose and the amount's band."""
    for wanted in dict.fromkeys((purpose, "application")):
        candidates = session.scalars(
            select(ApprovalPolicy).where(
                ApprovalPolicy.active.is_(True),
                ApprovalPolicy.purpose == wanted,
                or_(
                    ApprovalPolicy.institution_id == institution_id,
                    ApprovalPolicy.institution_id.is_(None),
                ),
                or_(ApprovalPolicy.product_id == product_id, ApprovalPolicy.product_id.is_(None)),
                ApprovalPolicy.code != DEFAULT_CODE,
            )
        ).all()
        candidates.sort(key=lambda p: (p.institution_id is None, p.product_id is None))
        if candidates:
            return candidates[0], band_index(candidates[0], amount)
    policy = default_policy(session)
    return policy, band_index(policy, amount)


def band_index(policy: ApprovalPolicy, amount: Decimal) -> int:
    for i, band in enumerate(policy.bands):
        if Decimal(band["min"]) < amount <= Decimal(band["max"]):
            return i
    raise PolicyError(f"金额 {amount} 不在审批策略“{policy.name}”的任何金额段内")


def steps(policy: ApprovalPolicy, band: int) -> list[Step]:
    return [
        Step(s["queue"], Decimal(s["limit"]), s.get("role", "approver"))
        for s in policy.bands[band]["steps"]
    ]
