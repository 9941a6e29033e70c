"""sessions and lockout: ab_user.session_epoch and locked_until; aggregated audit rows

ab_user.session_epoch makes sessions revocable server-side, ab_user.locked_until is the
temporary lockout; audit_log.count, last_at and agg_key hold aggregated rows, whose count
alone the database lets change.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# audit_log stays append-only; a row with agg_key may only have its count raised
SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log WHEN NOT ("
    "OLD.agg_key IS NOT NULL AND COALESCE(NEW.count > OLD.count, 0) "
    "AND NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.event IS OLD.event "
    "AND NEW.actor_id IS OLD.actor_id AND NEW.actor_name IS OLD.actor_name "
    "AND NEW.institution_id IS OLD.institution_id AND NEW.branch_id IS OLD.branch_id "
    "AND NEW.target_type IS OLD.target_type AND NEW.target_id IS OLD.target_id "
    "AND NEW.ip IS OLD.ip AND NEW.detail IS OLD.detail AND NEW.agg_key IS OLD.agg_key) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
_ROW = (
    "({0}.id, {0}.at, {0}.event, {0}.actor_id, {0}.actor_name, {0}.institution_id, "
    "{0}.branch_id, {0}.target_type, {0}.target_id, {0}.ip, {0}.detail::text, {0}.agg_key)"
)
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE OR REPLACE FUNCTION audit_log_count_only() RETURNS trigger AS $$ BEGIN "
    "IF OLD.agg_key IS NOT NULL AND NEW.count > OLD.count "
    f"AND {_ROW.format('NEW')} IS NOT DISTINCT FROM {_ROW.format('OLD')} "
    "THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_count_only BEFORE UPDATE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_count_only()",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]
# as revision 0001 created them
SQLITE_TRIGGERS_0001 = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
]
POSTGRES_TRIGGERS_0001 = [
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
]


def _drop_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        for name in ("audit_log_no_update_delete", "audit_log_count_only", "audit_log_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_count_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column(
        "ab_user", sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("ab_user", sa.Column("locked_until", sa.DateTime(), nullable=True))
    _drop_triggers(dialect)
    op.add_column("audit_log", sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("audit_log", sa.Column("last_at", sa.DateTime(), nullable=True))
    op.add_column("audit_log", sa.Column("agg_key", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_log_agg_key", "audit_log", ["agg_key"], unique=True)
    triggers = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect, [])
    for statement in triggers:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    _drop_triggers(dialect)
    op.drop_index("ix_audit_log_agg_key", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_column("agg_key")
        batch_op.drop_column("last_at")
        batch_op.drop_column("count")
    with op.batch_alter_table("ab_user") as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("session_epoch")
    old = {"sqlite": SQLITE_TRIGGERS_0001, "postgresql": POSTGRES_TRIGGERS_0001}.get(dialect, [])
    for statement in old:
        op.execute(statement)
