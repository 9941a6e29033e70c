"""Role dashboards (分角色看板): which charts each role sees, built from dashboard_data.

Branch manager: funnel, per-day applications/approvals, time in state and 15-minute
share, team workload, target attainment. HQ / institution: the same by unit, top and
bottom branches, offer utilisation. Approver: queue size and age. Account manager:
own targets and to-do counts. A bar click drills into the matching scoped list.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from flask import url_for
from sqlalchemy.orm import Session

from portal.applications.lifecycle import OPEN_STATES, STATES
from portal.reports import charts
from portal.reports import dashboard_data as data
from portal.reports.aggregate_sql import SLA_SECONDS

STAGES = {
    "whitelist": "白名单客户",
    "sms_sent": "营销短信",
    "submitted": "申请",
    "approved": "批准",
    "active": "额度生效",
}
AGE_BANDS = [
    (1, "1 小时内"),
    (4, "1–4 小时"),
    (24, "4–24 小时"),
    (72, "1–3 天"),
    (None, "3 天以上"),
]


def _apps_url(f: data.Filters, **flt) -> str:
    args = {
        "_flt_1_submitted_at": f.start.isoformat(),
        "_flt_2_submitted_at": (f.end + dt.timedelta(1)).isoformat(),
    }
    for key, value in flt.items():
        args[key] = value
    return url_for("ApplicationView.list", **args)


def funnel(session: Session, f: data.Filters) -> charts.ChartSpec:
    stock = data.whitelist_stock(session, f.scope)
    totals = data.totals(session, f)
    pool = sum(stock.get(s, (0, 0))[0] for s in ("active", "applied"))
    stages = [(STAGES["whitelist"], pool)] + [
        (STAGES[m], totals.get(m, (0, 0))[0]) for m in data.FUNNEL
    ]
    drill = {
        STAGES["whitelist"]: url_for("OfferView.list"),
        STAGES["submitted"]: _apps_url(f),
        STAGES["approved"]: _apps_url(f, _flt_3_state="approved"),
        STAGES["active"]: _apps_url(f, _flt_3_state="active"),
    }
    return charts.funnel(
        "funnel", "营销漏斗：白名单（当前有效）→ 短信 → 申请 → 批准 → 生效", stages, drill
    )


def per_day(session: Session, f: data.Filters) -> charts.ChartSpec:
    series = data.per_day(session, f, ("submitted", "approved", "rejected"))
    return charts.line(
        "per-day",
        "每日申请与审批",
        [d.strftime("%m-%d") for d in f.days],
        {"申请": series["submitted"], "批准": series["approved"], "拒绝": series["rejected"]},
    )


def state_time(session: Session, f: data.Filters) -> charts.ChartSpec:
    totals = data.totals(session, f)
    names, minutes = [], []
    for state in (
        "submitted",
        *OPEN_STATES,
        "review_passed",
        "in_approval",
        "approved",
        "disbursing",
    ):
        n, secs = totals.get("t:" + state, (0, 0))
        if n:
            names.append(STATES[state])
            minutes.append(round(secs / n / 60, 1))
    return charts.bar("state-time", "各环节平均停留时间（分钟）", names, {"平均分钟": minutes})


def sla_share(session: Session, f: data.Filters) -> charts.ChartSpec:
    totals = data.totals(session, f)
    decided = totals.get("decided", (0, 0))[0]
    fast = totals.get("decided_15", (0, 0))[0]
    share = round(100 * fast / decided, 1) if decided else 0
    title = f"15 分钟内办结占比 {share}%（共 {decided} 笔已决）"
    return charts.pie(
        "sla-share",
        title,
        [(f"{SLA_SECONDS // 60} 分钟内", fast), ("超过 15 分钟", decided - fast)],
    )


def workload(session: Session, f: data.Filters) -> charts.ChartSpec:
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for mid, state, n in data.open_counts(session, f.scope, OPEN_STATES):
        if mid:
            counts[mid][state] += n
    names = data.staff_names(session, counts)
    ids = sorted(counts, key=lambda i: names.get(i, ""))
    labels = [names.get(i, str(i)) for i in ids]
    series = {STATES[s]: [counts[i][s] for i in ids] for s in OPEN_STATES}
    drill = {names.get(i, str(i)): url_for("ApplicationView.list", _flt_0_manager=i) for i in ids}
    return charts.bar("workload", "团队在办工作量（点击查看申请）", labels, series, drill=drill)


def attainment(session: Session, f: data.Filters) -> charts.ChartSpec:
    month = f.end.strftime("%Y-%m")
    start = dt.date(f.end.year, f.end.month, 1)
    month_f = data.Filters(start, f.end, f.scope)
    actual = data.per_manager(session, month_f, ("submitted", "approved"))
    goals = {t.manager_id: t for t in data.targets(session, f.scope, month) if t.manager_id}
    ids = sorted(set(goals) | set(actual))
    names = data.staff_names(session, ids)
    labels = [names.get(i, str(i)) for i in ids]
    target_apps = [goals[i].applications if i in goals else 0 for i in ids]
    done_apps = [actual.get(i, {}).get("submitted", (0, 0))[0] for i in ids]
    pct_amount = [
        round(
            100 * actual.get(i, {}).get("approved", (0, 0))[1] / float(goals[i].approved_amount), 1
        )
        if i in goals and goals[i].approved_amount
        else 0
        for i in ids
    ]
    drill = {names.get(i, str(i)): _apps_url(month_f, _flt_0_manager=i) for i in ids}
    return charts.bar(
        "attainment",
        f"{month} 营销目标达成（申请笔数；批准金额达成率 %）",
        labels,
        {"目标笔数": target_apps, "实际笔数": done_apps, "金额达成率%": pct_amount},
        drill=drill,
    )


def by_unit(session: Session, f: data.Filters) -> charts.ChartSpec:
    rows = data.by_unit(session, f, ("submitted", "approved", "active"))
    hq = f.scope.level == "all"
    labels = [name for _u, name, _m in rows]
    series = {
        label: [m.get(metric, (0, 0))[0] for _u, _n, m in rows]
        for metric, label in (("submitted", "申请"), ("approved", "批准"), ("active", "生效"))
    }
    if hq:  # an institution drills into its own organisation dashboard
        drill = {
            name: url_for("DashboardView.show", kind="org", node=uid, start=f.start, end=f.end)
            for uid, name, _m in rows
        }
    else:
        drill = {name: _apps_url(f, _flt_0_branch=uid) for uid, name, _m in rows}
    title = "各法人机构申请与审批" if hq else "各网点申请与审批"
    return charts.bar("by-unit", title + "（点击查看申请）", labels, series, drill=drill)


def top_bottom(session: Session, f: data.Filters, n: int = 5) -> charts.ChartSpec:
    ranked = data.branches_ranked(session, f)
    picked = ranked[:n] + [r for r in ranked[-n:] if r not in ranked[:n]]
    labels = [name for _b, name, _c in picked][::-1]
    drill = {name: _apps_url(f, _flt_0_branch=bid) for bid, name, _c in picked}
    return charts.bar(
        "top-bottom",
        f"网点申请量前 {n} 名与后 {n} 名",
        labels,
        {"申请": [c for *_x, c in picked][::-1]},
        drill=drill,
        horizontal=True,
    )


def offer_use(session: Session, f: data.Filters) -> charts.ChartSpec:
    rows = data.offer_use(session, f.scope)
    labels = [name for _u, name, *_x in rows]
    pct = [
        round(100 * applied / offers, 1) if offers else 0 for _u, _n, offers, applied, _t in rows
    ]
    return charts.bar(
        "offer-use", "白名单额度使用率（已申请 / 全部额度，%）", labels, {"使用率%": pct}
    )


def queue_age(session: Session, f: data.Filters) -> charts.ChartSpec:
    now = dt.datetime.now()
    bands = {label: 0 for _h, label in AGE_BANDS}
    for since, n in data.open_ages(session, f.scope, "in_approval"):
        since = since if isinstance(since, dt.datetime) else dt.datetime.fromisoformat(str(since))
        hours = (now - since).total_seconds() / 3600
        label = next(lb for h, lb in AGE_BANDS if h is None or hours < h)
        bands[label] += n
    total = sum(bands.values())
    return charts.bar(
        "queue-age",
        f"待审批队列：{total} 笔，按等待时长",
        list(bands),
        {"笔数": list(bands.values())},
    )


def queue_by_branch(session: Session, f: data.Filters) -> charts.ChartSpec:
    rows = data.open_by_branch(session, f.scope, "in_approval")
    drill = {
        name: url_for("ApplicationView.list", _flt_0_branch=b, _flt_3_state="in_approval")
        for b, name, _n in rows
    }
    return charts.bar(
        "queue-branch",
        "各网点待审批笔数（点击查看）",
        [r[1] for r in rows],
        {"待审批": [r[2] for r in rows]},
        drill=drill,
    )


def todo(session: Session, f: data.Filters) -> charts.ChartSpec:
    counts: dict[str, int] = defaultdict(int)
    for _mid, state, n in data.open_counts(session, f.scope, OPEN_STATES):
        counts[STATES[state]] += n
    labels = [STATES[s] for s in OPEN_STATES]
    drill = {STATES[s]: url_for("ApplicationView.list", _flt_3_state=s) for s in OPEN_STATES}
    return charts.bar(
        "todo", "我的待办（点击查看）", labels, {"笔数": [counts[lb] for lb in labels]}, drill=drill
    )


def own_target(session: Session, f: data.Filters) -> charts.ChartSpec:
    month = f.end.strftime("%Y-%m")
    month_f = data.Filters(dt.date(f.end.year, f.end.month, 1), f.end, f.scope)
    done = data.totals(session, month_f)
    goal = next(iter(data.targets(session, f.scope, month)), None)
    apps_goal = goal.applications if goal else 0
    amount_goal = float(goal.approved_amount) / 10000 if goal else 0
    return charts.bar(
        "own-target",
        f"{month} 我的营销目标",
        ["申请笔数", "批准金额（万元）"],
        {
            "目标": [apps_goal, amount_goal],
            "完成": [
                done.get("submitted", (0, 0))[0],
                round(done.get("approved", (0, 0))[1] / 10000, 2),
            ],
        },
    )


DASHBOARDS = {
    "branch": ("网点经营看板", [funnel, per_day, state_time, sla_share, workload, attainment]),
    "org": (
        "机构经营看板",
        [funnel, by_unit, per_day, sla_share, top_bottom, offer_use, state_time],
    ),
    "approver": ("审批看板", [queue_age, queue_by_branch, sla_share, per_day]),
    "manager": ("我的看板", [todo, own_target, per_day, funnel]),
}


def build(session: Session, kind: str, f: data.Filters) -> tuple[str, list[charts.ChartSpec]]:
    title, parts = DASHBOARDS[kind]
    return title, [part(session, f) for part in parts]
