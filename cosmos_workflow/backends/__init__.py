"""Backends turn a job into NVIDIA's exact command and files, and read back what it produced."""

from __future__ import annotations

from cosmos_workflow.backends.base import BackendImpl
from cosmos_workflow.backends.cosmos3 import Cosmos3Backend
from cosmos_workflow.backends.transfer1 import Transfer1Backend
from cosmos_workflow.backends.transfer2_5 import Transfer25Backend
from cosmos_workflow.domain.params import Backend

_BACKENDS: dict[Backend, BackendImpl] = {
    Backend.TRANSFER1: Transfer1Backend(),
    Backend.TRANSFER2_5: Transfer25Backend(),
    Backend.COSMOS3: Cosmos3Backend(),
}


def get_backend(backend: Backend) -> BackendImpl:
    return _BACKENDS[Backend(backend)]


__all__ = ["get_backend"]
