"""Partnerships last across published runs (ended when a run drops their pair) and keep the
dated records of WHO's cycle: agreement, baseline, priorities, action plan, visits,
learning events, review.

Revision ID: 0005
Revises: 0004
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partnership") as batch:
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("ended_run_id", sa.Integer))
    # Before this revision a partnership belonged to one run: those of runs no longer
    # published are over.
    partnership = sa.table("partnership", sa.column("run_id", sa.Integer),
                           sa.column("ended_at", sa.DateTime(timezone=True)))
    match_run = sa.table("match_run", sa.column("id", sa.Integer), sa.column("status", sa.String))
    op.execute(partnership.update()
               .where(partnership.c.run_id.in_(sa.select(match_run.c.id)
                                               .where(match_run.c.status != "published")))
               .values(ended_at=dt.datetime.now(dt.timezone.utc)))
    op.create_table(
        "partnership_record",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("partnership_id", sa.Integer,
                  sa.ForeignKey("partnership.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("dated", sa.Date, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partnership_record")
    with op.batch_alter_table("partnership") as batch:
        batch.drop_column("ended_run_id")
        batch.drop_column("ended_at")
