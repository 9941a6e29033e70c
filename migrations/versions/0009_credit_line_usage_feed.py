"""credit line: used-amount feed from core banking (index on core_ref, usage_at)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usage_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_credit_line_core_ref", ["core_ref"], unique=False)


def downgrade():
    with op.batch_alter_table("credit_line", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_line_core_ref")
        batch_op.drop_column("usage_at")
