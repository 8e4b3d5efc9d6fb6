"""Every timing default in one place, with how they relate.

A lease spans at least three heartbeats, so one late heartbeat never loses a job; the reaper runs
about once per heartbeat so an expired lease is noticed within one lease length plus a heartbeat."""

from __future__ import annotations

LEASE_SECONDS = 60.0
HEARTBEATS_PER_LEASE = 3
MAX_ATTEMPTS = 3
MAX_SWEEP_RUNS = 500  # a larger sweep needs --yes (config `max_sweep_runs`)
# A lapse (the worker died or lost touch under a job) is counted apart from a crash of the job's
# process: a job is quarantined after this many lapses per attempt it is allowed (6 by default),
# so restarts and killed workers never quarantine a healthy job, while one that keeps taking its
# worker down (through memory) is still stopped.
LAPSES_PER_ATTEMPT = 2
IDLE_POLL_SECONDS = 1.0  # a worker with nothing to do asks again after this long
IDLE_POLL_MAX_SECONDS = 5.0
SQLITE_BUSY_TIMEOUT_MS = 30_000
# A pooled PostgreSQL connection idle this long is pinged before use (one that was just used is
# not: a claim loop would pay a round trip per statement; see store/db.py).
POSTGRES_PING_IDLE_SECONDS = 1.0
# A transaction PostgreSQL rolled back as a deadlock victim is run again this many times in all,
# after a jittered backoff that starts here and doubles (store/db.py `write_retrying`).
DEADLOCK_RETRY_ATTEMPTS = 5
DEADLOCK_RETRY_FIRST_SECONDS = 0.02
# The largest offset a list takes: within every database's integer, so a huge one is refused
# with a message instead of failing in SQL (services and the API's query parameter alike).
MAX_LIST_OFFSET = 2**31 - 1
POSITION_GAP = 1024  # sparse queue positions: moving a job is one update
CONTINUOUS_LOOKAHEAD = 64  # runs looked at beyond the head when batching continuously
# A worker rides out a database outage this long (each tick retried and logged), then stops.
DATABASE_OUTAGE_SECONDS = 300.0
CANCEL_POLL_SECONDS = 1.0  # a running job sees a cancel request within about this long


def heartbeat_seconds(lease_seconds: float) -> float:
    return lease_seconds / HEARTBEATS_PER_LEASE


# -- the worker ---------------------------------------------------------------------------------
SUPERVISOR_TICK_SECONDS = 0.5  # output lines reach the event stream about this often
WRITE_RETRY_SECONDS = 1.0  # a final write that met an unreachable database is tried again after
# `cosmos serve` restarts a worker that died, waiting 1 s, then twice as long each time up to 60 s;
# a worker that ran this long before dying counts as healthy, and the wait starts again at 1 s.
EMBEDDED_BACKOFF_FIRST_SECONDS = 1.0
EMBEDDED_BACKOFF_MAX_SECONDS = 60.0
EMBEDDED_HEALTHY_AFTER_SECONDS = 60.0
# A stop (SIGTERM, SIGINT) lets the running job finish this long, then ends its process and gives
# the job back to the queue without charging an attempt (settings.stop_grace_seconds).
STOP_GRACE_SECONDS = 30.0
# After the grace, how long ending the process (SIGTERM, then SIGKILL after KILL_GRACE_SECONDS)
# and writing the release may take before a stopping `cosmos serve` gives up on its worker.
STOP_KILL_WAIT_SECONDS = 30.0

# -- hosts --------------------------------------------------------------------------------------
# `docker stop` waits 10 s between SIGTERM and SIGKILL by default; we give a cancelled or
# timed-out job the same grace before killing it outright.
KILL_GRACE_SECONDS = 10.0
# A local host looks at its child this often while nothing else wakes it: cancel wakes it at
# once, so this only bounds how late a normal exit or a timeout is noticed.
LOCAL_POLL_SECONDS = 0.05
# How long a SIGKILLed local process group gets to disappear before it counts as surviving
# (processes in uninterruptible sleep).
LOCAL_KILLED_WAIT_SECONDS = 2.0
# SSH, and how the figures were chosen:
# - connect: 10 s to open TCP, exchange banners and authenticate; a healthy host answers in well
#   under a second, a dead one should be noticed within one reconnect attempt.
# - reconnect: 120 s covers an sshd restart or a short network blip; past it a job is better
#   failed and retried than left waiting.
# - keepalive: 15 s, so a silently dropped connection is noticed within a few poll cycles.
# - poll: 0.25 s between log reads when the log is quiet; output lines of a GPU job come seconds
#   apart, so this keeps the stream live at a few small SFTP reads per second.
# - backoff: doubling from 0.5 s and capped at 8 s, so a host that comes back is noticed quickly.
# - liveness: a process that prints nothing and has no exit code is checked this often; one
#   killed from outside (or a rebooted machine) never writes an exit code.
# - kill step: how often a remote kill looks whether the process group is gone.
SSH_CONNECT_TIMEOUT_SECONDS = 10.0
SSH_RECONNECT_WITHIN_SECONDS = 120.0
SSH_KEEPALIVE_SECONDS = 15
SSH_POLL_SECONDS = 0.25
SSH_BACKOFF_FIRST_SECONDS = 0.5
SSH_BACKOFF_MAX_SECONDS = 8.0
SSH_LIVENESS_SECONDS = 5.0
SSH_KILL_STEP_SECONDS = 0.2

# -- the web server -----------------------------------------------------------------------------
STREAM_POLL_SECONDS = 0.5  # how often a connected event stream looks for new events
STREAM_GAP_GRACE_SECONDS = (
    5.0  # longest a write transaction is expected to stay open after its insert
)
STREAM_KEEPALIVE_SECONDS = (
    15.0  # a comment line this often keeps proxies from closing an idle stream
)
SERVE_SHUTDOWN_GRACE_SECONDS = 5  # open browser streams (live updates) are closed after this long
UI_LIVE_SECONDS = 1.0  # how often a Jobs tab looks for new progress and log lines
