"""Every timing default in one place, with how they relate.

A lease spans at least three heartbeats, so one late heartbeat never loses a job; the reaper runs
about once per heartbeat so an expired lease is noticed within one lease length plus a heartbeat."""

from __future__ import annotations

LEASE_SECONDS = 60.0
HEARTBEATS_PER_LEASE = 3
MAX_ATTEMPTS = 3
IDLE_POLL_SECONDS = 1.0  # a worker with nothing to do asks again after this long
IDLE_POLL_MAX_SECONDS = 5.0
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSITION_GAP = 1024  # sparse queue positions: moving a job is one update
CLAIM_CANDIDATES = 16  # a claim that loses a race tries the next of this many queued jobs
CONTINUOUS_LOOKAHEAD = 64  # runs looked at beyond the head when batching continuously
# A worker rides out a database outage this long (each tick retried and logged), then stops.
DATABASE_OUTAGE_SECONDS = 300.0
CANCEL_POLL_SECONDS = 1.0  # a running job sees a cancel request within about this long


def heartbeat_seconds(lease_seconds: float) -> float:
    return lease_seconds / HEARTBEATS_PER_LEASE
