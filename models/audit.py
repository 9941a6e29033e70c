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
    "logout": "退出登录",
    "session_expired": "会话超时",
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


# Append-only at the database level. The same statements are in the migration.
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]

for _sql in SQLITE_TRIGGERS:
    event.listen(AuditLog.__table__, "after_create", DDL(_sql).execute_if(dialect="sqlite"))
for _sql in POSTGRES_TRIGGERS:
    event.listen(AuditLog.__table__, "after_create", DDL(_sql).execute_if(dialect="postgresql"))
