"""application: index on (manager_id, assigned_at) for auto-assignment's round-robin tie-break

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_application_manager_assigned", "application", ["manager_id", "assigned_at"]
    )


def downgrade():
    op.drop_index("ix_application_manager_assigned", table_name="application")
