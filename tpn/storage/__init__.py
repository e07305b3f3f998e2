"""The database: SQLite in the instance folder by default, any SQLAlchemy URL otherwise
(PostgreSQL runs the same code). Repositories return domain models, never rows.

>>> import tempfile, pathlib
>>> db = Database.open("sqlite:///" + str(pathlib.Path(tempfile.mkdtemp()) / "t.sqlite"))
>>> db.revision() == db.head()
True
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine

from ..errors import TpnError
from ..i18n import _
from ..settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"


def default_url(instance: str | os.PathLike | None = None) -> str:
    """The database of ``tpn.settings`` (TPN_DATABASE_URL, else ``tpn.sqlite`` in the
    instance folder, created on first use)."""
    settings = Settings.read(instance)
    if settings.database_url.startswith("sqlite:///"):
        settings.make_instance()
    return settings.database_url


class Database:
    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str | None = None, upgrade: bool = True,
             check: bool = True) -> "Database":
        """Connect; a new, empty database gets the current schema. An older schema is an
        error that names the command to run (data is never migrated behind one's back)."""
        url = url or default_url()
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            _private_file(engine.url.database)
        if engine.dialect.name == "sqlite":
            _sqlite_for_many_writers(engine)
        elif engine.dialect.name == "postgresql":
            _postgres_one_writer(engine)
        db = cls(engine)
        current = db.revision()
        if current is None and upgrade and not inspect(engine).get_table_names():
            db.upgrade()
        elif check and current != db.head():
            raise TpnError(_("the database schema is at revision {current}, tpn needs {head}: run "
                             "'tpn db upgrade' (back the file up first)", current=current,
                             head=db.head()))
        return db

    def head(self) -> str:
        from alembic.script import ScriptDirectory

        return ScriptDirectory(str(MIGRATIONS)).get_current_head()

    def revision(self) -> str | None:
        from alembic.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

    @contextmanager
    def transaction(self):
        """One unit of work that writes: everything in it is saved, or nothing is."""
        with self.engine.connect().execution_options(tpn_write=True) as conn:
            with conn.begin():
                yield conn

    def connect(self) -> Connection:
        return self.engine.connect()


# The key of the advisory lock that PostgreSQL's writing transactions take (any number;
# it names tpn's lock among those other applications of the same database might take).
WRITER_LOCK = 0x74706E       # "tpn"


def _postgres_one_writer(engine: Engine) -> None:
    """A writing transaction first takes one transaction-wide advisory lock, so writers go
    one at a time as on SQLite, and each reads what the one before it committed (READ
    COMMITTED gives every statement after the lock a fresh snapshot). Without it, two
    publishes each superseded the published run they saw and both ended "published", and
    two imports of one new network name collided on its unique key. Readers never wait."""

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if conn.get_execution_options().get("tpn_write", False):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")


def _private_file(path: str | None) -> None:
    """A new SQLite file is readable by its owner only (its journal files follow it):
    it holds password hashes and institutions' contacts."""
    if path and path != ":memory:" and not path.startswith("file:") and not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _sqlite_for_many_writers(engine: Engine) -> None:
    """WAL lets readers work while one writer writes; a writing transaction begins
    IMMEDIATE so a second writer waits (busy timeout) for the first instead of failing
    half-way; reads begin deferred and see the last committed state; foreign keys on."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None      # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        write = conn.get_execution_options().get("tpn_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
