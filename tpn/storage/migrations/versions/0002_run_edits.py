"""Manual edits to draft runs (lock, exclude, swap), kept as an audit trail, and the run a
rerun came from.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_edit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("match_run.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("mentee_key", sa.String(200), nullable=False),
        sa.Column("topic_key", sa.String(200), nullable=False),
        sa.Column("mentor_key", sa.String(200), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    with op.batch_alter_table("match_run") as batch:
        batch.add_column(sa.Column("parent_id", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match_run") as batch:
        batch.drop_column("parent_id")
    op.drop_table("run_edit")
