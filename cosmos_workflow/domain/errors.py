"""The domain errors. Every interface maps these once: the CLI to exit codes, the API to HTTP
status codes, the UI to messages. Anything else escaping a service is a bug."""

from __future__ import annotations


class CosmosError(Exception):
    """Root of every error the product reports to a user."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CosmosError):
    """The user's input is wrong; nothing was changed. Says what to fix."""

    exit_code = 2
    http_status = 422


class NotFound(CosmosError):
    """An id or name that does not exist."""

    exit_code = 1
    http_status = 404


class Conflict(CosmosError):
    """The request is valid but the current state forbids it (a stale plan, a running job...)."""

    exit_code = 1
    http_status = 409


class ConfigError(CosmosError):
    """The configuration file or environment is invalid."""

    exit_code = 2
    http_status = 500


class ExecutionError(CosmosError):
    """Running work failed on a host (staging, process start, collecting outputs)."""

    exit_code = 1
    http_status = 502


class FatalError(CosmosError):
    """A worker cannot go on (its database unreachable for longer than allowed); it stops with a
    clear log line and a non-zero exit instead of running half-alive."""

    exit_code = 1
    http_status = 503
