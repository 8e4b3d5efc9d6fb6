"""Notifications: a POST to each `[[notify]]` target of cosmos.toml when work ends (a run failed,
a job finished, a sweep finished, the queue drained).

Every worker process runs one `Notifier` (watch.py): it tails the events table, turns the
changes it finds into notifications (messages.py), claims each in the database so that of
several workers only one sends it, and hands it to its target's `Sender` (send.py), a thread
that POSTs with retries. A worker's jobs never wait for any of it.

Delivery is at most once per event and target: a notification is claimed before it is sent, so
a worker that dies between the two loses it, and one that gave up after its retries does not
try again."""
