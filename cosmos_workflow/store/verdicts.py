"""Stored results of `cosmos verify-batching`, and the keys the planner may trust."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cosmos_workflow.domain.params import Backend
from cosmos_workflow.domain.verdicts import BatchingKind, VerdictKey
from cosmos_workflow.store.models import BatchingVerdictRow


@dataclass(frozen=True, slots=True)
class StoredVerdict:
    key: VerdictKey
    identical: bool
    bit_identical: bool
    min_psnr_db: float | None
    runs_compared: int
    simulated: bool
    details: Mapping[str, Any]
    verified_at: float


def save_verdict(
    session: Session,
    key: VerdictKey,
    *,
    identical: bool,
    bit_identical: bool,
    min_psnr_db: float | None,
    runs_compared: int,
    simulated: bool,
    details: Mapping[str, Any],
) -> StoredVerdict:
    """Record a verification, replacing an earlier one of the same key, real or simulated."""
    row = session.get(
        BatchingVerdictRow,
        (key.backend.value, key.variant, key.kind.value, key.controls, key.gpu_profile, simulated),
    )
    if row is None:
        row = BatchingVerdictRow(
            backend=key.backend.value,
            variant=key.variant,
            kind=key.kind.value,
            controls=key.controls,
            gpu_profile=key.gpu_profile,
            simulated=simulated,
        )
        session.add(row)
    row.identical = identical
    row.bit_identical = bit_identical
    row.min_psnr_db = min_psnr_db
    row.runs_compared = runs_compared
    row.details = dict(details)
    row.verified_at = time.time()
    session.flush()
    return _stored(row)


def list_verdicts(session: Session) -> list[StoredVerdict]:
    rows = session.scalars(
        select(BatchingVerdictRow).order_by(
            BatchingVerdictRow.backend, BatchingVerdictRow.kind, BatchingVerdictRow.controls
        )
    ).all()
    return [_stored(row) for row in rows]


def verified_keys(session: Session, *, simulated: bool | None = None) -> frozenset[VerdictKey]:
    """Every kind of batching that was verified to keep outputs. `simulated`: only those
    measured on the simulator (True) or on real hosts (False); a simulated verdict says nothing
    about a real GPU, so plans for real hosts ask for `simulated=False`."""
    return frozenset(
        v.key
        for v in list_verdicts(session)
        if v.identical and (simulated is None or v.simulated == simulated)
    )


def _stored(row: BatchingVerdictRow) -> StoredVerdict:
    key = VerdictKey(
        Backend(row.backend), row.variant, BatchingKind(row.kind), row.controls, row.gpu_profile
    )
    return StoredVerdict(
        key=key,
        identical=row.identical,
        bit_identical=row.bit_identical,
        min_psnr_db=row.min_psnr_db,
        runs_compared=row.runs_compared,
        simulated=row.simulated,
        details=row.details,
        verified_at=row.verified_at,
    )
