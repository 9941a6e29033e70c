"""channel request: the fingerprint of the first request's body, to refuse a reused request id

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    # nullable: requests stored before this revision have none (their repeats are answered
    # from the stored response as before)
    with op.batch_alter_table("channel_request") as batch:
        batch.add_column(sa.Column("body_hash", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("channel_request") as batch:
        batch.drop_column("body_hash")
