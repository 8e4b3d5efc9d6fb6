"""The stored batching verifications, as `cosmos batch verdicts` and the API list them."""

from __future__ import annotations

from pydantic import BaseModel

from cosmos_workflow.services.context import Context
from cosmos_workflow.store.verdicts import list_verdicts as stored_verdicts


class VerdictView(BaseModel):
    backend: str
    variant: str  # "base" or "distilled"
    kind: str  # "mixed" or "gpu_batch"
    controls: str
    gpu_profile: str
    simulated: bool
    verified: bool  # the kind of batch keeps outputs there; auto may use it
    bit_identical: bool
    min_psnr_db: float | None
    runs_compared: int
    verified_at: float


def list_verdicts(ctx: Context) -> list[VerdictView]:
    with ctx.db.read() as session:
        return [
            VerdictView(
                backend=v.key.backend.value,
                variant=v.key.variant,
                kind=v.key.kind.value,
                controls=v.key.controls,
                gpu_profile=v.key.gpu_profile,
                simulated=v.simulated,
                verified=v.identical,
                bit_identical=v.bit_identical,
                min_psnr_db=v.min_psnr_db,
                runs_compared=v.runs_compared,
                verified_at=v.verified_at,
            )
            for v in stored_verdicts(session)
        ]
