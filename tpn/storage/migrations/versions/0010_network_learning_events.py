"""Learning events of the whole network, with attendance by institution and partnership.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learning_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("held_on", sa.Date, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("place", sa.String(500), nullable=False),
        sa.Column("topics", sa.Text, nullable=False),
        sa.Column("organiser", sa.String(500), nullable=False),
        sa.Column("agenda", sa.Text, nullable=False),
        sa.Column("outputs", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "event_attendance",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer,
                  sa.ForeignKey("learning_event.id", ondelete="CASCADE"), nullable=False),
        sa.Column("institution_key", sa.String(200), nullable=False),
        sa.Column("partnership_id", sa.Integer,
                  sa.ForeignKey("partnership.id", ondelete="SET NULL")),
        sa.UniqueConstraint("event_id", "institution_key"),
    )


def downgrade() -> None:
    op.drop_table("event_attendance")
    op.drop_table("learning_event")
