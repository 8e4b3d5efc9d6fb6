"""The fleet: every GPU slot that can take work, with its GPU profile.

A slot is the GPUs one job uses on one host (`gpus_per_job` devices; a context-parallel job
takes several). Plans and ETAs are made for a fleet; the worker runs one job per slot at once,
pinned to the slot's devices. Pure data: the configuration builds it (services.fleet)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

# torchrun's default rendezvous port (torch/distributed/run.py `--master-port`); every slot of a
# multi-slot host gets its own port above it, or two torchrun launches on one machine collide.
TORCHRUN_DEFAULT_PORT = 29500


@dataclass(frozen=True, slots=True)
class Slot:
    host: str
    index: int  # 0-based place among its host's slots
    devices: tuple[int, ...]
    gpu_profile: str
    gpu_memory_gb: float
    host_slots: int = 1  # how many slots its host has
    # Predicted seconds until the job it runs now ends (0: free now); set for a plan or an ETA.
    busy_for_seconds: float = 0.0

    @property
    def name(self) -> str:
        """`host/index`: host names cannot hold a `/`, so the name is unambiguous."""
        return f"{self.host}/{self.index}"

    @property
    def visible_devices(self) -> str:
        """The value of CUDA_VISIBLE_DEVICES that pins a job to this slot."""
        return ",".join(str(device) for device in self.devices)

    @property
    def master_port(self) -> int | None:
        """torchrun's rendezvous port for this slot's jobs: None (torchrun's default) on a host
        of one slot, a port of its own per slot otherwise."""
        if self.host_slots <= 1:
            return None
        return TORCHRUN_DEFAULT_PORT + self.index

    def busy_for(self, seconds: float) -> Slot:
        return replace(self, busy_for_seconds=max(0.0, seconds))


@dataclass(frozen=True, slots=True)
class Fleet:
    slots: tuple[Slot, ...]

    def __post_init__(self) -> None:
        if not self.slots:
            raise ValueError("a fleet has at least one slot")
        names = [slot.name for slot in self.slots]
        if len(set(names)) != len(names):
            raise ValueError(f"slot names repeat: {names}")

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def profiles(self) -> tuple[str, ...]:
        """The GPU profiles of the fleet, each once, in slot order."""
        return tuple(dict.fromkeys(slot.gpu_profile for slot in self.slots))

    @property
    def smallest_memory_gb(self) -> float:
        return min(slot.gpu_memory_gb for slot in self.slots)

    def slot(self, name: str) -> Slot | None:
        return next((slot for slot in self.slots if slot.name == name), None)

    def with_busy(self, busy: dict[str, float]) -> Fleet:
        """The same slots, each busy for the given seconds (by slot name; others free)."""
        return Fleet(tuple(slot.busy_for(busy.get(slot.name, 0.0)) for slot in self.slots))

    @staticmethod
    def uniform(count: int, gpu_profile: str, gpu_memory_gb: float, host: str = "slot") -> Fleet:
        """`count` identical one-GPU slots on one host (a fleet described by its size)."""
        return Fleet(
            tuple(
                Slot(host, index, (index,), gpu_profile, gpu_memory_gb, host_slots=count)
                for index in range(count)
            )
        )

    @staticmethod
    def of(slots: Iterable[Slot]) -> Fleet:
        return Fleet(tuple(slots))


def host_slots(
    host: str, slot_devices: Sequence[tuple[int, ...]], gpu_profile: str, gpu_memory_gb: float
) -> list[Slot]:
    """The slots of one host, one per device group."""
    return [
        Slot(host, index, devices, gpu_profile, gpu_memory_gb, host_slots=len(slot_devices))
        for index, devices in enumerate(slot_devices)
    ]
