"""The database schema (SQLAlchemy Core). Migrations in ``migrations/versions`` create and
change it; tests check that the migrated schema equals this one."""

from __future__ import annotations

from sqlalchemy import (JSON, Boolean, Column, Date, DateTime, Float, ForeignKey, Integer,
                        MetaData, String, Table, Text, UniqueConstraint, false)

metadata = MetaData()

network = Table(
    "network", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Pages are shown in it when the reader has not chosen a language (tpn.i18n).
    Column("language", String(20), nullable=False, server_default="en"),
)

institution = Table(
    "institution", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("name", String(500), nullable=False),
    Column("kind", String(200), nullable=False),
    Column("region", String(200)),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("size", Float),
    Column("capacity", Integer),
    Column("attributes", JSON, nullable=False),
    Column("external", Boolean, nullable=False, server_default=false()),
    Column("mentors_on", Text, nullable=False, server_default=""),   # ";"-separated topic keys
    UniqueConstraint("network_id", "key"),
)

topic = Table(
    "topic", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("name", String(500), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("kinds", Text, nullable=False),          # ";"-separated, empty = all kinds
    Column("target", Float),
    Column("unit", String(100), nullable=False),
    Column("minimum", Float),                       # the plausible range of a score
    Column("maximum", Float),
    UniqueConstraint("network_id", "key"),
)

snapshot = Table(
    "snapshot", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("period", String(100), nullable=False),
    Column("source", String(500), nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("network_id", "period"),
)

score = Table(
    "score", metadata,
    Column("snapshot_id", ForeignKey("snapshot.id", ondelete="CASCADE"), primary_key=True),
    Column("institution_id", ForeignKey("institution.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topic.id", ondelete="CASCADE"), primary_key=True),
    Column("value", Float, nullable=False),
)

# A flagged score that a facilitator checked and vouched for (tpn.quality): trusted while
# the stored value is still the one that was checked.
accepted_score = Table(
    "accepted_score", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("institution_id", ForeignKey("institution.id", ondelete="CASCADE"), nullable=False),
    Column("topic_id", ForeignKey("topic.id", ondelete="CASCADE"), nullable=False),
    Column("period", String(100), nullable=False),
    Column("value", Float, nullable=False),
    Column("accepted_by", String(200), nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False),
    UniqueConstraint("network_id", "institution_id", "topic_id", "period"),
)

focus = Table(
    "focus", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("round", String(100), nullable=False),
    Column("institution_id", ForeignKey("institution.id", ondelete="CASCADE"), nullable=False),
    Column("topic_id", ForeignKey("topic.id", ondelete="CASCADE"), nullable=False),
    Column("priority", Integer, nullable=False),
    # The mentors it would like to learn from on the topic, first choice first (";").
    Column("preferred", Text, nullable=False, server_default=""),
    Column("chosen_by", String(200), nullable=False),
    Column("chosen_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("network_id", "round", "institution_id", "topic_id"),
)

match_run = Table(
    "match_run", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("period", String(100), nullable=False),
    Column("round", String(100), nullable=False),
    Column("input_hash", String(64), nullable=False),
    Column("options", JSON, nullable=False),
    Column("solver", String(20), nullable=False),
    Column("tpn_version", String(50), nullable=False),
    Column("status", String(20), nullable=False),     # draft -> published -> superseded
    Column("summary", JSON, nullable=False),
    Column("pairs", JSON, nullable=False),            # rows as in pairs.csv
    Column("unmatched", JSON, nullable=False),        # rows as in unmatched.csv
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),       # optimistic locking of drafts
    Column("parent_id", Integer),                     # the run a rerun started from
    Column("mentors_asked_at", DateTime(timezone=True)),  # a draft its mentors may accept
)

run_edit = Table(
    "run_edit", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("match_run.id", ondelete="CASCADE"), nullable=False),
    Column("action", String(20), nullable=False),     # lock | exclude | swap
    Column("mentee_key", String(200), nullable=False),
    Column("topic_key", String(200), nullable=False),
    Column("mentor_key", String(200), nullable=False),
    Column("author", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False),
)

partnership = Table(
    "partnership", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("run_id", ForeignKey("match_run.id"), nullable=False),
    Column("mentee_key", String(200), nullable=False),
    Column("mentor_key", String(200), nullable=False),
    Column("step", Integer, nullable=False),          # WHO TPI cycle step 1-6
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A partnership lasts across published runs that pair its two institutions; a run that
    # pairs them on no topic ends it (its records stay). ended_run_id NULL: its review closed it.
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_run_id", Integer),
)

# The topics a partnership works on: a run may add one or drop one while the partnership
# goes on.
partnership_topic = Table(
    "partnership_topic", metadata,
    Column("id", Integer, primary_key=True),
    Column("partnership_id", ForeignKey("partnership.id", ondelete="CASCADE"), nullable=False),
    Column("topic_key", String(200), nullable=False),
    Column("run_id", Integer, nullable=False),        # the published run that added it
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_run_id", Integer),
)

partnership_record = Table(
    "partnership_record", metadata,
    Column("id", Integer, primary_key=True),
    Column("partnership_id", ForeignKey("partnership.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(30), nullable=False),       # a key of tpn.cycle.RECORDS
    Column("topic_key", String(200)),                 # NULL: the whole partnership
    Column("dated", Date, nullable=False),            # the record's own date (signed on, ...)
    Column("fields", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# A learning event of the whole network (an exchange or coaching visit, a learning
# session), attended by institutions, some of them as one of their partnerships.
learning_event = Table(
    "learning_event", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("kind", String(40), nullable=False),       # a key of tpn.cycle.EVENT_KINDS
    Column("title", String(500), nullable=False),
    Column("place", String(500), nullable=False),
    Column("topics", Text, nullable=False),           # ";"-separated topic keys
    Column("organiser", String(500), nullable=False),
    Column("agenda", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

event_attendance = Table(
    "event_attendance", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", ForeignKey("learning_event.id", ondelete="CASCADE"), nullable=False),
    Column("institution_key", String(200), nullable=False),
    # The partnership it came with (NULL: on its own); a partnership's two institutions.
    Column("partnership_id", ForeignKey("partnership.id", ondelete="SET NULL")),
    UniqueConstraint("event_id", "institution_key"),
)

change_log = Table(
    "change_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("entity", String(20), nullable=False),     # institution | topic
    Column("key", String(200), nullable=False),
    Column("field", String(100), nullable=False),
    Column("old", Text),                               # JSON text of the value; NULL: none
    Column("new", Text),
    Column("author", String(200), nullable=False),
    Column("source", String(500), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

app_user = Table(
    "app_user", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(300), nullable=False),   # werkzeug scrypt, salted
    Column("role", String(20), nullable=False),             # admin | facilitator | viewer
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# An account given networks works on those alone, with the role given on each.
network_access = Table(
    "network_access", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(20), nullable=False),             # facilitator | viewer
    UniqueConstraint("user_id", "network_id"),
)

share_link = Table(
    "share_link", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("expires_at", DateTime(timezone=True)),
    Column("show_contacts", Boolean, nullable=False, server_default=false()),
)

# An institution's own link for a round: its page, its answers, as a mentor its proposals.
invitation = Table(
    "invitation", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("round", String(100), nullable=False),
    Column("institution_key", String(200), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# What an institution answered on its page; each answer is kept, the last one counts.
answer = Table(
    "answer", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("round", String(100), nullable=False),
    Column("institution_key", String(200), nullable=False),
    Column("invitation_id", ForeignKey("invitation.id", ondelete="SET NULL")),
    Column("focus", JSON, nullable=False),            # [{"topic": id, "preferred": [ids]}]
    Column("capacity", Integer),                      # mentees it can take; NULL: not said
    Column("note", Text, nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    Column("status", String(20), nullable=False),     # new | accepted | rejected | applied
    Column("decided_by", String(200)),
    Column("decided_at", DateTime(timezone=True)),
)

# A round whose answers are closed: invitation pages read, no longer write.
answer_round = Table(
    "answer_round", metadata,
    Column("id", Integer, primary_key=True),
    Column("network_id", ForeignKey("network.id", ondelete="CASCADE"), nullable=False),
    Column("round", String(100), nullable=False),
    Column("closed_by", String(200), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("network_id", "round"),
)

# A mentor's answer to a pair of a draft it was asked to accept.
mentor_response = Table(
    "mentor_response", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", ForeignKey("match_run.id", ondelete="CASCADE"), nullable=False),
    Column("mentee_key", String(200), nullable=False),
    Column("topic_key", String(200), nullable=False),
    Column("mentor_key", String(200), nullable=False),
    Column("response", String(20), nullable=False),   # accept | decline
    Column("reason", Text, nullable=False),
    Column("invitation_id", ForeignKey("invitation.id", ondelete="SET NULL")),
    Column("at", DateTime(timezone=True), nullable=False),
)

app_session = Table(
    "app_session", metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("username", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),           # signed out, or password changed
)
