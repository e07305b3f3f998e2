"""The mentors an institution would like to learn from on a focus topic, ranked.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("focus", sa.Column("preferred", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.execute("ALTER TABLE focus DROP COLUMN preferred")
