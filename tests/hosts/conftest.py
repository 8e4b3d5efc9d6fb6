"""Fixtures of the hosts tests: the real OpenSSH server lives in tests/hosts/sshd.py."""

from __future__ import annotations

from tests.hosts.sshd import sshd

__all__ = ["sshd"]
