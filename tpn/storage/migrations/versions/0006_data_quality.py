"""Data quality: a topic's plausible range (minimum, maximum), and flagged scores that a
facilitator checked and accepted.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("topic") as batch:
        batch.add_column(sa.Column("minimum", sa.Float))
        batch.add_column(sa.Column("maximum", sa.Float))
    op.create_table(
        "accepted_score",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("institution_id", sa.Integer,
                  sa.ForeignKey("institution.id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic_id", sa.Integer, sa.ForeignKey("topic.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("period", sa.String(100), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("accepted_by", sa.String(200), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.UniqueConstraint("network_id", "institution_id", "topic_id", "period"),
    )


def downgrade() -> None:
    op.drop_table("accepted_score")
    with op.batch_alter_table("topic") as batch:
        batch.drop_column("maximum")
        batch.drop_column("minimum")
