"""Append-only audit log (审计日志); the database itself refuses UPDATE and DELETE."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import DDL, JSON, DateTime, Integer, String, event, func
from sqlalchemy.orm import Mapped, mapped_column

EVENT_LABELS = {
    "login_success": "登录成功",
    "login_failure": "登录失败",
    "login_throttled": "登录限流",
    "account_locked": "账户锁定",
    "account_unlocked": "解除锁定",
    "logout": "退出登录",
    "session_expired": "会话超时",
    "session_revoked": "已失效会话被重放",
    "scope_denied": "越权访问被拒",
    "create": "新增记录",
    "update": "修改记录",
    "delete": "删除记录",
    "unmask": "查看明文",
    "masked_lookup": "按完整号码查询",
    "masked_search": "脱敏字段查询",
    "masked_search_refused": "脱敏字段查询被拒",
    "import": "导入",
    "export": "导出",
    "approval_policy_saved": "审批策略变更",
    "approval_decided": "审批决定",
    "credit_line_changed": "额度操作",
    "contract_terminate": "合同解约",
}
TARGET_LABELS = {
    "customer": "客户",
    "org_unit": "机构网点",
    "user": "用户",
    "role": "角色",
    "approval_policy": "审批策略",
    "approval_case": "审批",
    "credit_line": "额度",
    "contract": "合同",
    "blacklist_entry": "黑名单",
    "sms_message": "短信记录",
    "route": "页面/接口",
}


class AuditLog(Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.current_timestamp(), nullable=False, index=True
    )
    event: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str | None] = mapped_column(String(128))
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True)
    branch_id: Mapped[int | None] = mapped_column(Integer, index=True)
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    # aggregated rows (portal.access.audit.record_tally): one per subject and window, whose count
    # (and last_at) is the only thing the database lets change
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    last_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    agg_key: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)

    __scope__ = {"institution": "institution_id", "branch": "branch_id", "owner": "actor_id"}

    @property
    def event_label(self) -> str:
        return EVENT_LABELS.get(self.event, self.event)

    @property
    def target_label(self) -> str:
        if not self.target_type:
            return ""
        return TARGET_LABELS.get(self.target_type, self.target_type)

    @property
    def detail_text(self) -> str:
        """The detail as readable JSON (Chinese kept as is)."""
        import json

        return json.dumps(self.detail or {}, ensure_ascii=False, indent=1, default=str)

    def __repr__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.event} {self.actor_name or '-'}"


# Append-only at the database level; an aggregated row (agg_key set) may only have its
# count raised (and last_at moved). The same statements are in migration 0012.
_FROZEN = (
    "id",
    "at",
    "event",
    "actor_id",
    "actor_name",
    "institution_id",
    "branch_id",
    "target_type",
    "target_id",
    "ip",
    "detail",
    "agg_key",
)
_SQLITE_COUNT_ONLY = (
    "OLD.agg_key IS NOT NULL AND COALESCE(NEW.count > OLD.count, 0) AND "
    + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FROZEN)
)
_PG_ROW = ", ".join("{0}.detail::text" if c == "detail" else "{0}." + c for c in _FROZEN)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    f"WHEN NOT ({_SQLITE_COUNT_ONLY}) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE FUNCTION audit_log_count_only() RETURNS trigger AS $$ BEGIN "
    "IF OLD.agg_key IS NOT NULL AND NEW.count > OLD.count "
    f"AND ({_PG_ROW.format('NEW')}) IS NOT DISTINCT FROM ({_PG_ROW.format('OLD')}) "
    "THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_count_only BEFORE UPDATE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_count_only()",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]

for _sql in SQLITE_TRIGGERS:
    event.listen(AuditLog.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
for _sql in POSTGRES_TRIGGERS:
    event.listen(AuditLog.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))
