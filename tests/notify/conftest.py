"""Real `cosmos` processes (worker tests) as the end-to-end tests run them."""

from __future__ import annotations

from tests.e2e.conftest import cosmos, database_url

__all__ = ["cosmos", "database_url"]
