"""Alembic environment: tpn runs migrations itself (tpn db upgrade, tpn init, first use),
always on a connection it passes in ``config.attributes["connection"]``."""

from alembic import context

from tpn.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
