"""The declared application lifecycle (申请生命周期): states, actions and transitions.

``TRANSITIONS[(state, action)]`` says where an action leads, which roles may take it
and which separation rule applies (checked by portal/applications/lifecycle_guard.py, applied by
the engine in portal/applications/lifecycle.py). Separation rules:

* ``owner`` — only the assigned account manager (申请归属客户经理);
* ``branch`` — a branch manager acts only in their own branch (system always may);
* ``not_reviewer`` — nobody who took a review action on the application (审查与审批分离).
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = {
    "submitted": "已提交",
    "assigned": "待调查",
    "under_review": "调查中",
    "need_info": "待补充资料",
    "review_passed": "调查通过",
    "in_approval": "审批中",
    "approved": "已批准",
    "disbursing": "出账中",
    "active": "已生效",
    "rejected": "已拒绝",
    "withdrawn": "已撤回",
    "expired": "已过期",
    "disbursement_failed": "出账失败",
}
ACTIONS = {
    "submit": "提交申请",
    "assign": "自动分派",
    "reassign": "改派",
    "start_review": "开始调查",
    "request_info": "要求补充资料",
    "info_received": "资料已补充",
    "pass": "调查通过",
    "reject": "拒绝",
    "submit_approval": "提交审批",
    "approve": "审批通过",
    "approve_step": "审批通过（转下一级）",
    "approval_escalate": "超权限上报",
    "approval_reject": "审批拒绝",
    "disburse": "出账",
    "disbursed": "出账成功",
    "disburse_fail": "出账失败",
    "retry_disburse": "重新出账",
    "withdraw": "客户撤回",
    "expire": "过期",
    "escalate": "超时升级",
}
# a manager's open work (我的工作台) and the states a customer may still withdraw from
OPEN_STATES = ("assigned", "under_review", "need_info")
WITHDRAWABLE = ("submitted", *OPEN_STATES)
FINAL_STATES = ("active", "rejected", "withdrawn", "expired")
REVIEW_ACTIONS = ("start_review", "request_info", "info_received", "pass", "reject")
REJECT_REASONS = {
    "info_false": "资料不实",
    "no_contact": "多次联系不上客户",
    "income_low": "收入不足以覆盖还款",
    "credit_bad": "征信记录不良",
    "customer_declined": "客户放弃申请",
    "other": "其他",
}

# pseudo-roles of non-staff actors
SYSTEM = "system"
CHANNEL = "channel"
AM, BM, APPROVER = "account_manager", "branch_manager", "approver"


@dataclass(frozen=True)
class Rule:
    to: str | None  # None: the state does not change (reassign, escalate)
    roles: frozenset[str]
    separation: str | None = None
    needs_reason: bool = False
    # the application ends before any approval: its whitelist offer is released
    # (applied → active, or expired past its validity; portal/whitelist/offers.py `release`)
    releases_offer: bool = False


def _r(to, *roles, sep=None, reason=False, release=False) -> Rule:
    return Rule(to, frozenset(roles), sep, reason, release)


TRANSITIONS: dict[tuple[str, str], Rule] = {
    ("submitted", "assign"): _r("assigned", SYSTEM, BM, sep="branch"),
    **{(s, "reassign"): _r(None, SYSTEM, BM, sep="branch") for s in OPEN_STATES},
    ("assigned", "start_review"): _r("under_review", AM, sep="owner"),
    ("under_review", "request_info"): _r("need_info", AM, sep="owner", reason=True),
    ("need_info", "info_received"): _r("under_review", AM, sep="owner"),
    ("under_review", "pass"): _r("review_passed", AM, sep="owner"),
    # a rejection keeps the offer "applied": the customer was assessed and declined, so the
    # same pre-approval must not be applied for again at once (a new whitelist import or
    # staff decide); only withdrawal and expiry below give the offer back
    **{(s, "reject"): _r("rejected", AM, sep="owner", reason=True) for s in OPEN_STATES},
    ("review_passed", "submit_approval"): _r("in_approval", SYSTEM),
    ("in_approval", "approve"): _r("approved", APPROVER, sep="not_reviewer"),
    # multi-step approval (portal/approvals/decisions.py): a step passes or escalates, the
    # application stays in approval until the last step of its policy band approves
    ("in_approval", "approve_step"): _r(None, APPROVER, sep="not_reviewer"),
    ("in_approval", "approval_escalate"): _r(None, APPROVER, sep="not_reviewer"),
    ("in_approval", "approval_reject"): _r("rejected", APPROVER, sep="not_reviewer", reason=True),
    ("approved", "disburse"): _r("disbursing", SYSTEM),
    ("disbursing", "disbursed"): _r("active", SYSTEM),
    ("disbursing", "disburse_fail"): _r("disbursement_failed", SYSTEM),
    ("disbursement_failed", "retry_disburse"): _r("disbursing", BM, APPROVER, sep="branch"),
    **{(s, "withdraw"): _r("withdrawn", CHANNEL, release=True) for s in WITHDRAWABLE},
    ("submitted", "expire"): _r("expired", SYSTEM, release=True),
    ("need_info", "expire"): _r("expired", SYSTEM, release=True),
    **{(s, "escalate"): _r(None, SYSTEM) for s in ("submitted", *OPEN_STATES)},
}
