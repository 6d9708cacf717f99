"""Alembic's entry point. memoguard runs migrations itself (``memoguard db upgrade``) and hands over the
connection in ``config.attributes``; the ``alembic`` command line is not needed."""

from __future__ import annotations

from alembic import context

from memoguard.adapters.storage.table import METADATA

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=METADATA, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
