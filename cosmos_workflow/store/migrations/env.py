"""Alembic environment: migrations run on the connection the application hands over."""

from __future__ import annotations

from alembic import context

from cosmos_workflow.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through cosmos_workflow.store.db.Database.migrate()")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
