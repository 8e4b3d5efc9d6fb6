"""Which hosts and slots work runs on, from `cosmos.toml`, and what the planner plans for.

With no host configured, work runs on this machine with the simulator and the worker says so; a
configured host is never silently replaced by the simulator. A host's GPUs are cut into slots of
`gpus_per_job` devices (domain.fleet); a job runs on one slot, pinned to its devices."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cosmos_workflow.config import HostConfig, Settings
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.domain.fleet import Slot, host_slots
from cosmos_workflow.domain.work import HostTarget
from cosmos_workflow.simulator.runtime import TIME_SCALE_ENV, time_scale

DEFAULT_HOST = HostConfig(name="local-simulated", simulate=True)


@dataclass(frozen=True)
class HostChoice:
    config: HostConfig
    simulate: bool
    is_default: bool
    slot: Slot | None = None  # the slot its jobs run on; None: the host as a whole (render)

    @property
    def slots(self) -> list[Slot]:
        config = self.config
        return host_slots(
            config.name, config.slot_devices, config.gpu_profile, config.gpu_memory_gb
        )

    @property
    def slot_name(self) -> str:
        return self.slot.name if self.slot else f"{self.config.name}/0"

    @property
    def devices(self) -> tuple[int, ...]:
        """The devices its jobs run on: its slot's, else the host's first slot's (render)."""
        return self.slot.devices if self.slot else self.config.slot_devices[0]

    def on_slot(self, slot: Slot) -> HostChoice:
        return replace(self, slot=slot)

    @property
    def target(self) -> HostTarget:
        return HostTarget(
            gpus=self.config.gpus_per_job,
            gpu_memory_gb=self.config.gpu_memory_gb,
            gpu_profile=self.config.gpu_profile,
            code_dir=self.config.code_dir,
            checkpoint_dir=self.config.checkpoint_dir,
            disable_guardrails=self.config.disable_guardrails,
            master_port=self.slot.master_port if self.slot else None,
        )


def simulated_time_scale(choice: HostChoice, setting: float) -> float:
    """Real seconds per simulated GPU second of a simulated host's processes: COSMOS_SIM_TIME_SCALE
    where it is set explicitly (in the worker's environment, which may change after the settings
    were read, as `cosmos demo` does; else in the host's `env` table), else the setting. A bad
    explicit value is a ConfigError that names where it was set."""
    places = (
        ("the environment", os.environ),
        (f"host {choice.config.name!r} env", choice.config.env),
    )
    for where, values in places:
        text = values.get(TIME_SCALE_ENV, "")
        if text.strip():
            try:
                return time_scale(text)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    return setting


def pace_of(choice: HostChoice, setting: float) -> float:
    """Real seconds per predicted GPU second on this host: 1 on a GPU, the time scale on the
    simulator (an ETA is wall-clock time; predictions are GPU time)."""
    return simulated_time_scale(choice, setting) if choice.simulate else 1.0


def choose_host(settings: Settings, name: str | None, simulate: bool) -> HostChoice:
    """One host: the named one, the only one configured, or the default simulated one."""
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


def choose_hosts(settings: Settings, names: Sequence[str], simulate: bool) -> list[HostChoice]:
    """The hosts a worker drives: the named ones (each once), else every configured host, else
    the default simulated one."""
    if names:
        unique = list(dict.fromkeys(names))
        return [choose_host(settings, name, simulate) for name in unique]
    if settings.hosts:
        return [HostChoice(c, simulate or c.simulate, is_default=False) for c in settings.hosts]
    return [HostChoice(DEFAULT_HOST, True, is_default=True)]
