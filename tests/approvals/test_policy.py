"""Approval policies: band validation (gaps, overlaps, chains that cannot approve), modes,
versioning (an edit never changes in-flight cases), resolution by specificity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.approvals import ApprovalPolicy
from portal.approvals import policy as approval_policy
from portal.approvals.policy import PolicyError
from tests.support.approvals import case, clear_policies, in_approval, policy


@pytest.fixture(autouse=True)
def _clean(db):
    clear_policies()
    yield
    clear_policies()


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "至少填写一个金额段"),
        ("0-50000: 网点 50000\n60000-200000: 机构 200000", "空档"),
        ("0-50000: 网点 50000\n40000-200000: 机构 200000", "重叠"),
        ("100-50000: 网点 50000", "从 0 开始"),
        ("0-50000: 网点 30000", "末级审批权限低于"),
        ("50000-0: 网点 50000", "上限须大于下限"),
        ("0-50000: 支行 50000", "审批环节"),
        ("0-5万: 网点 50000", "格式"),
        ("0-50000: 网点 abc", "不是数字"),
        ("0-50000: 网点 0", "须大于 0"),
    ],
)
def test_editor_refuses_bad_bands(db, text, message):
    with pytest.raises(PolicyError, match=message):
        approval_policy.parse_bands(text)


def test_bands_must_cover_the_product_range(db):
    with pytest.raises(PolicyError, match="产品额度上限"):
        policy("0-1000: 网点 1000")
    assert db.session.query(ApprovalPolicy).filter_by(active=True, name="测试策略").count() == 0


@pytest.mark.parametrize(
    "text, mode",
    [
        ("0-99999999: 网点 99999999", "direct"),
        ("0-99999999: 网点 50000 > 机构 99999999", "multi"),
        ("0-99999999: 集中 99999999", "central"),
        ("0-50000: 网点 50000\n50000-99999999: 网点 50000 > 集中 99999999", "mixed"),
    ],
)
def test_mode_is_read_off_the_steps(db, text, mode):
    p = policy(text)
    assert p.mode == mode
    assert approval_policy.parse_bands(approval_policy.format_bands(p.bands)) == p.bands


def test_second_policy_for_same_scope_is_refused(db):
    policy("0-99999999: 网点 99999999")
    with pytest.raises(PolicyError, match="已有生效"):
        policy("0-99999999: 集中 99999999")


def test_edit_makes_new_version_and_in_flight_case_keeps_old(db):
    v1 = policy("0-99999999: 网点 99999999")
    old_case = in_approval("20000")
    assert case(old_case).policy_id == v1.id
    v2 = approval_policy.save(
        db.session,
        name="改为集中审批",
        bands_text="0-99999999: 集中 99999999",
        institution_id=v1.institution_id,
        product_id=v1.product_id,
        previous=v1,
    )
    db.session.commit()
    assert (v2.code, v2.version, v2.mode) == (v1.code, 2, "central")
    assert db.session.get(ApprovalPolicy, v1.id).active is False
    c = case(old_case)
    assert (c.policy_id, c.queue_level) == (v1.id, "branch")  # unchanged in flight
    new_case = case(in_approval("20000"))
    assert (new_case.policy_id, new_case.queue_level) == (v2.id, "central")
    with pytest.raises(PolicyError, match="他人修改"):  # editing the retired version
        approval_policy.save(
            db.session,
            name="再改",
            bands_text="0-99999999: 网点 99999999",
            institution_id=v1.institution_id,
            product_id=v1.product_id,
            previous=db.session.get(ApprovalPolicy, v1.id),
        )
    db.session.rollback()


def test_resolution_prefers_product_then_institution_then_default(db):
    inst_wide = policy("0-99999999: 机构 99999999", product=False)
    specific = policy("0-50000: 网点 50000\n50000-99999999: 网点 50000 > 机构 99999999")
    p, band = approval_policy.resolve(
        db.session, specific.institution_id, specific.product_id, Decimal("60000"), "application"
    )
    assert (p.id, band) == (specific.id, 1)
    p, _ = approval_policy.resolve(
        db.session, specific.institution_id, -1, Decimal("10"), "application"
    )
    assert p.id == inst_wide.id
    p, _ = approval_policy.resolve(db.session, -5, -1, Decimal("10"), "limit_adjust")
    assert p.code == approval_policy.DEFAULT_CODE
