"""What every service function works with: the validated settings and the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from cosmos_workflow.config import Settings, load_settings
from cosmos_workflow.store.db import Database


@dataclass
class Context:
    settings: Settings = field(default_factory=load_settings)

    @cached_property
    def db(self) -> Database:
        self.settings.home.mkdir(parents=True, exist_ok=True)
        return Database(self.settings.resolved_database_url)
