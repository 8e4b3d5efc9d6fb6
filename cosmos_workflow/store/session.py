"""The handle of one open transaction, as the layers above the store name it.

`Database.write()` and `Database.read()` yield one; a service holds it only to pass it to store
functions, so that one service call can compose several store calls in a single transaction.
Nothing outside `store/` imports SQLAlchemy itself (tests/test_layers.py checks it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

__all__ = ["Session"]
