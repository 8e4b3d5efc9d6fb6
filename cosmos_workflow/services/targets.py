"""Which host work runs on, from `cosmos.toml`, and what the planner plans for.

With no host configured, work runs on this machine with the simulator and the worker says so; a
configured host is never silently replaced by the simulator."""

from __future__ import annotations

from dataclasses import dataclass

from cosmos_workflow.config import HostConfig, Settings
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.domain.work import HostTarget

DEFAULT_HOST = HostConfig(name="local-simulated", simulate=True)


@dataclass(frozen=True)
class HostChoice:
    config: HostConfig
    simulate: bool
    is_default: bool

    @property
    def target(self) -> HostTarget:
        return HostTarget(
            gpus=self.config.gpus,
            gpu_memory_gb=self.config.gpu_memory_gb,
            gpu_profile=self.config.gpu_profile,
            code_dir=self.config.code_dir,
            checkpoint_dir=self.config.checkpoint_dir,
            disable_guardrails=self.config.disable_guardrails,
        )


def choose_host(settings: Settings, name: str | None, simulate: bool) -> HostChoice:
    if name is not None:
        config = settings.host(name)
        return HostChoice(config, simulate or config.simulate, is_default=False)
    if len(settings.hosts) == 1:
        config = settings.hosts[0]
        return HostChoice(config, simulate or config.simulate, is_default=False)
    if settings.hosts:
        names = ", ".join(h.name for h in settings.hosts)
        raise ConfigError(f"several hosts are configured ({names}); choose one with --host NAME")
    return HostChoice(DEFAULT_HOST, True, is_default=True)
