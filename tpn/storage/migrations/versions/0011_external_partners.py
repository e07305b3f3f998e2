"""External partners: an institution marked external needs no scores and mentors on the
topics a facilitator offered it on.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("institution", sa.Column("external", sa.Boolean, nullable=False,
                                           server_default=sa.false()))
    op.add_column("institution", sa.Column("mentors_on", sa.Text, nullable=False,
                                           server_default=""))


def downgrade() -> None:
    # Not a batch copy: on SQLite it drops the table, and the scores' ON DELETE CASCADE
    # would go with it.
    op.execute("ALTER TABLE institution DROP COLUMN mentors_on")
    op.execute("ALTER TABLE institution DROP COLUMN external")
