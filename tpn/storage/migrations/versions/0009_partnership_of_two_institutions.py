"""A partnership is two institutions with the topics they work on: the pair-partnerships of
the same mentee and mentor merge into one, each topic and each record keeping its topic.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_partnership = sa.table(
    "partnership", sa.column("id", sa.Integer), sa.column("network_id", sa.Integer),
    sa.column("run_id", sa.Integer), sa.column("mentee_key", sa.String),
    sa.column("mentor_key", sa.String), sa.column("topic_key", sa.String),
    sa.column("step", sa.Integer), sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("ended_at", sa.DateTime(timezone=True)), sa.column("ended_run_id", sa.Integer))
_record = sa.table("partnership_record", sa.column("id", sa.Integer),
                   sa.column("partnership_id", sa.Integer), sa.column("topic_key", sa.String))


def upgrade() -> None:
    topic = op.create_table(
        "partnership_topic",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("partnership_id", sa.Integer,
                  sa.ForeignKey("partnership.id", ondelete="CASCADE"), nullable=False),
        sa.Column("topic_key", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ended_run_id", sa.Integer),
    )
    op.add_column("partnership_record", sa.Column("topic_key", sa.String(200)))
    conn = op.get_bind()
    rows = conn.execute(sa.select(_partnership).order_by(_partnership.c.id)).mappings().all()
    groups: dict[tuple, list] = {}
    for row in rows:
        groups.setdefault((row["network_id"], row["mentee_key"], row["mentor_key"]),
                          []).append(row)
    for group in groups.values():
        keep = group[0]["id"]
        for row in group:
            conn.execute(topic.insert().values(
                partnership_id=keep, topic_key=row["topic_key"], run_id=row["run_id"],
                added_at=row["created_at"], ended_at=row["ended_at"],
                ended_run_id=row["ended_run_id"]))
            conn.execute(_record.update().where(_record.c.partnership_id == row["id"])
                         .values(partnership_id=keep, topic_key=row["topic_key"]))
        # The merged partnership goes on while one of its topics does, at the furthest step
        # reached by one under way; it ended when its last topic ended.
        under_way = [r for r in group if r["ended_at"] is None]
        last = max(group, key=lambda r: (r["ended_at"] is None, r["ended_at"] or 0, r["id"]))
        conn.execute(_partnership.update().where(_partnership.c.id == keep).values(
            step=max(r["step"] for r in (under_way or group)),
            created_at=min(r["created_at"] for r in group),
            ended_at=None if under_way else last["ended_at"],
            ended_run_id=None if under_way else last["ended_run_id"]))
        extra = [r["id"] for r in group[1:]]
        if extra:
            conn.execute(_partnership.delete().where(_partnership.c.id.in_(extra)))
    # Not a batch copy of the table: on SQLite that drops the old table, and the foreign
    # keys' ON DELETE CASCADE would take the partnership's topics and records with it.
    op.execute("ALTER TABLE partnership DROP COLUMN topic_key")


def downgrade() -> None:
    # Each topic becomes a pair-partnership again, with the records of its topic (records of
    # the whole partnership go with its first topic).
    with op.batch_alter_table("partnership") as batch:
        batch.add_column(sa.Column("topic_key", sa.String(200), nullable=False,
                                   server_default=""))
    conn = op.get_bind()
    topic = sa.table("partnership_topic", sa.column("id", sa.Integer),
                     sa.column("partnership_id", sa.Integer), sa.column("topic_key", sa.String),
                     sa.column("run_id", sa.Integer),
                     sa.column("added_at", sa.DateTime(timezone=True)),
                     sa.column("ended_at", sa.DateTime(timezone=True)),
                     sa.column("ended_run_id", sa.Integer))
    parents = {r["id"]: r for r in conn.execute(sa.select(_partnership)).mappings()}
    seen: set[int] = set()
    for t in conn.execute(sa.select(topic).order_by(topic.c.partnership_id, topic.c.id)
                          ).mappings().all():
        parent = parents[t["partnership_id"]]
        if parent["id"] not in seen:
            seen.add(parent["id"])
            conn.execute(_partnership.update().where(_partnership.c.id == parent["id"])
                         .values(topic_key=t["topic_key"]))
            continue
        conn.execute(_partnership.insert().values(
            network_id=parent["network_id"], run_id=t["run_id"],
            mentee_key=parent["mentee_key"], mentor_key=parent["mentor_key"],
            topic_key=t["topic_key"], step=parent["step"], created_at=t["added_at"],
            ended_at=t["ended_at"], ended_run_id=t["ended_run_id"]))
        pid = conn.execute(sa.select(sa.func.max(_partnership.c.id))).scalar()
        conn.execute(_record.update().where((_record.c.partnership_id == parent["id"])
                                            & (_record.c.topic_key == t["topic_key"]))
                     .values(partnership_id=pid))
    op.drop_table("partnership_topic")
    with op.batch_alter_table("partnership_record") as batch:
        batch.drop_column("topic_key")

