"""The first schema: networks, institutions, topics, snapshots and scores, focus, match
runs and partnerships.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "network",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "institution",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(200), nullable=False),
        sa.Column("region", sa.String(200)),
        sa.Column("latitude", sa.Float),
        sa.Column("longitude", sa.Float),
        sa.Column("size", sa.Float),
        sa.Column("capacity", sa.Integer),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.UniqueConstraint("network_id", "key"),
    )
    op.create_table(
        "topic",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("kinds", sa.Text, nullable=False),
        sa.Column("target", sa.Float),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.UniqueConstraint("network_id", "key"),
    )
    op.create_table(
        "snapshot",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("period", sa.String(100), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("imported_at", TS, nullable=False),
        sa.UniqueConstraint("network_id", "period"),
    )
    op.create_table(
        "score",
        sa.Column("snapshot_id", sa.Integer, sa.ForeignKey("snapshot.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("institution_id", sa.Integer,
                  sa.ForeignKey("institution.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("topic_id", sa.Integer, sa.ForeignKey("topic.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "focus",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("round", sa.String(100), nullable=False),
        sa.Column("institution_id", sa.Integer,
                  sa.ForeignKey("institution.id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic_id", sa.Integer, sa.ForeignKey("topic.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("chosen_by", sa.String(200), nullable=False),
        sa.Column("chosen_at", TS, nullable=False),
        sa.UniqueConstraint("network_id", "round", "institution_id", "topic_id"),
    )
    op.create_table(
        "match_run",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("period", sa.String(100), nullable=False),
        sa.Column("round", sa.String(100), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("solver", sa.String(20), nullable=False),
        sa.Column("tpn_version", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("pairs", sa.JSON, nullable=False),
        sa.Column("unmatched", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "partnership",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("network_id", sa.Integer, sa.ForeignKey("network.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("match_run.id"), nullable=False),
        sa.Column("mentee_key", sa.String(200), nullable=False),
        sa.Column("mentor_key", sa.String(200), nullable=False),
        sa.Column("topic_key", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for name in ("partnership", "match_run", "focus", "score", "snapshot", "topic",
                 "institution", "network"):
        op.drop_table(name)
