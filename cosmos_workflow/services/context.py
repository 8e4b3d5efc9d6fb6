"""What every service function works with: the validated settings and the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from cosmos_workflow.config import Settings, load_settings
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.store.db import TRANSIENT_ERRORS, Database


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (refused, reset, busy past its timeout):
    an interface reports that as one line, not a traceback."""
    return isinstance(exc, TRANSIENT_ERRORS)


@dataclass
class Context:
    settings: Settings = field(default_factory=load_settings)

    @cached_property
    def db(self) -> Database:
        home = self.settings.home
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in the way, no permission, a read-only file system
            raise ConfigError(
                f"home {home} (COSMOS_HOME or home in cosmos.toml) cannot be used as a "
                f"folder: {exc.strerror or exc}"
            ) from None
        return Database(self.settings.resolved_database_url)
