"""credit line: an approved limit change waiting for core banking (pending_limit)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_line", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_limit", sa.Numeric(14, 2), nullable=True))


def downgrade():
    with op.batch_alter_table("credit_line", schema=None) as batch_op:
        batch_op.drop_column("pending_limit")
