"""approval queue: covering indexes for the queue page, its counts and per-level counts

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("approval_case", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_case_queue")
        batch_op.drop_index("ix_approval_case_branch_id")
        batch_op.drop_index("ix_approval_case_institution_id")
        batch_op.create_index(
            "ix_approval_case_queue2",
            [
                "queue_node_id",
                "state",
                "step_opened_at",
                "id",
                "branch_id",
                "institution_id",
                "claimed_by",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_approval_case_branch_open",
            ["branch_id", "state", "queue_level", "step_opened_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_approval_case_inst_open",
            ["institution_id", "state", "queue_level", "step_opened_at"],
            unique=False,
        )


def downgrade():
    with op.batch_alter_table("approval_case", schema=None) as batch_op:
        batch_op.drop_index("ix_approval_case_inst_open")
        batch_op.drop_index("ix_approval_case_branch_open")
        batch_op.drop_index("ix_approval_case_queue2")
        batch_op.create_index("ix_approval_case_institution_id", ["institution_id"], unique=False)
        batch_op.create_index("ix_approval_case_branch_id", ["branch_id"], unique=False)
        batch_op.create_index(
            "ix_approval_case_queue",
            ["queue_node_id", "state", "step_opened_at", "id"],
            unique=False,
        )
