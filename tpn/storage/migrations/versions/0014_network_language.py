"""A network's language: what its pages, invitation pages and share links are shown in
when the reader has not chosen one.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("network", sa.Column("language", sa.String(20), nullable=False,
                                       server_default="en"))


def downgrade() -> None:
    op.execute("ALTER TABLE network DROP COLUMN language")
