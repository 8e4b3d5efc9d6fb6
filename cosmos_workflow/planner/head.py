"""Continuous batching: the best batch around the head of the queue, formed at claim time.

Only runs of the head's priority within `lookahead` runs behind the head are considered, and the
batch is auto's on that window, under the same output rule as `cosmos batch analyze`: unless
output changes are allowed, only `identical` or `verified` batches are formed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cosmos_workflow.domain.fleet import Fleet
from cosmos_workflow.domain.verdicts import VerdictKey
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner.cost import CostModel
from cosmos_workflow.planner.plan import PlanMode, PlannedBatch, plan_batches


def plan_head_batch(
    runs_in_queue_order: Sequence[QueuedRun],
    *,
    lookahead: int,
    cost: CostModel,
    gpu_profile: str,
    gpu_memory_gb: float,
    max_batch_size: int | None = None,
    max_gpu_batch_size: int | None = None,
    gpu_batching: bool = True,
    allow_output_changes: bool = False,
    learned_limits: Mapping[tuple[str, str], int] | None = None,
    verified: frozenset[VerdictKey] = frozenset(),
    fleet: Fleet | None = None,
) -> PlannedBatch | None:
    """The batch holding the head run, or None when nothing is queued. The head's whole job is
    in the window; a batch with `unchanged=True` means: run the head job as it is. `fleet`:
    the slots (busy for what their running jobs have left) the window's work will spread over;
    the head's batch is then the fleet plan's, not the one that loads least."""
    inference = [run for run in runs_in_queue_order if run.kind.batchable]
    if not inference:
        return None
    head = inference[0]
    window = [run for run in inference[1 : 1 + max(0, lookahead)] if run.priority == head.priority]
    head_job = [run for run in inference if run.job_id == head.job_id]
    members = list({run.run_id: run for run in [head, *head_job, *window]}.values())
    plan = plan_batches(
        members,
        mode=PlanMode.AUTO,
        cost=cost,
        gpu_profile=gpu_profile,
        gpu_memory_gb=gpu_memory_gb,
        max_batch_size=max_batch_size,
        max_gpu_batch_size=max_gpu_batch_size,
        gpu_batching=gpu_batching,
        allow_output_changes=allow_output_changes,
        learned_limits=learned_limits,
        verified=verified,
        fleet=fleet,
    )
    return next(batch for batch in plan.batches if head.run_id in batch.run_ids)
