"""Fixtures of the fault-injection tests: the end-to-end runner and database choice (SQLite
unless a test asks for both), and the real OpenSSH server."""

from __future__ import annotations

from tests.e2e.conftest import cosmos, database_url
from tests.hosts.sshd import sshd

__all__ = ["cosmos", "database_url", "sshd"]
