"""whitelist_import.heartbeat_at: the running import's lease (portal.whitelist.lease)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("whitelist_import") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("whitelist_import") as batch:
        batch.drop_column("heartbeat_at")
