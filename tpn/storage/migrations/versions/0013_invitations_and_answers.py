"""Institutions take part: an invitation per institution and round, their answers (focus
topics, preferred mentors, capacity), rounds whose answers are closed, and mentors'
answers to the pairs of a draft they were asked to accept.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("match_run", sa.Column("mentors_asked_at", sa.DateTime(timezone=True)))
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("round", sa.String(100), nullable=False),
        sa.Column("institution_key", sa.String(200), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "answer",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("round", sa.String(100), nullable=False),
        sa.Column("institution_key", sa.String(200), nullable=False),
        sa.Column("invitation_id", sa.Integer,
                  sa.ForeignKey("invitation.id", ondelete="SET NULL")),
        sa.Column("focus", sa.JSON, nullable=False),
        sa.Column("capacity", sa.Integer),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "answer_round",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("round", sa.String(100), nullable=False),
        sa.Column("closed_by", sa.String(200), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("network_id", "round"),
    )
    op.create_table(
        "mentor_response",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("match_run.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("mentee_key", sa.String(200), nullable=False),
        sa.Column("topic_key", sa.String(200), nullable=False),
        sa.Column("mentor_key", sa.String(200), nullable=False),
        sa.Column("response", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("invitation_id", sa.Integer,
                  sa.ForeignKey("invitation.id", ondelete="SET NULL")),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mentor_response")
    op.drop_table("answer_round")
    op.drop_table("answer")
    op.drop_table("invitation")
    op.execute("ALTER TABLE match_run DROP COLUMN mentors_asked_at")
