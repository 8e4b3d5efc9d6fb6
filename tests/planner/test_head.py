from __future__ import annotations

from collections.abc import Sequence

from cosmos_workflow.domain.controls import Control
from cosmos_workflow.domain.params import Backend, JobKind
from cosmos_workflow.domain.verdicts import BatchingKind, OutputVerdict, VerdictKey
from cosmos_workflow.domain.work import QueuedRun
from cosmos_workflow.planner.cost_defaults import default_cost_model
from cosmos_workflow.planner.head import plan_head_batch
from cosmos_workflow.planner.plan import PlannedBatch
from tests.planner.builders import queued_run

E, D = Control.EDGE, Control.DEPTH
COST = default_cost_model()


def head(runs: Sequence[QueuedRun], lookahead: int = 10, **options: object) -> PlannedBatch | None:
    return plan_head_batch(
        runs,
        lookahead=lookahead,
        cost=COST,
        gpu_profile="h100-80gb",
        gpu_memory_gb=80.0,
        **options,  # type: ignore[arg-type]
    )


def test_empty_queue_has_no_head_batch() -> None:
    assert head([]) is None
    assert head([queued_run("u", "j", kind=JobKind.UPSCALE)]) is None


def test_head_takes_compatible_runs_within_the_lookahead() -> None:
    runs = [queued_run(f"r{i}", f"j{i}", queue_index=i) for i in range(6)]
    batch = head(runs, lookahead=3)
    assert batch is not None
    assert batch.run_ids == ("r0", "r1", "r2", "r3")
    assert batch.queue_index == 0


def test_head_never_takes_other_priorities_or_incompatible_runs() -> None:
    runs = [
        queued_run("a", "j1", priority=1, queue_index=0),
        queued_run("b", "j2", priority=0, queue_index=1),
        queued_run("c", "j3", priority=1, queue_index=2, seed=99),
        queued_run("d", "j4", priority=1, queue_index=3),
    ]
    batch = head(runs)
    assert batch is not None
    assert batch.run_ids == ("a", "d")


def test_head_keeps_outputs_for_transfer2_5() -> None:
    t25 = Backend.TRANSFER2_5
    runs = [
        queued_run("a", "j1", backend=t25, weights={E: 1.0}, queue_index=0),
        queued_run("b", "j2", backend=t25, weights={D: 1.0}, queue_index=1),
        queued_run("c", "j3", backend=t25, weights={E: 0.7}, queue_index=2),
    ]
    batch = head(runs)
    assert batch is not None
    assert batch.run_ids == ("a", "c") and batch.verdict.verdict is OutputVerdict.IDENTICAL


def test_head_obeys_the_output_rule_of_analyze() -> None:
    runs = [queued_run(f"r{i}", f"j{i}", queue_index=i) for i in range(3)]
    kept = head(runs)
    assert kept is not None and kept.gpu_batch_size == 1
    assert kept.verdict.verdict is OutputVerdict.IDENTICAL
    allowed = head(runs, allow_output_changes=True)
    assert allowed is not None and allowed.gpu_batch_size == 3
    assert allowed.verdict.verdict is OutputVerdict.MAY_DIFFER
    gpu = VerdictKey.of(
        Backend.TRANSFER1, False, BatchingKind.GPU_BATCH, frozenset({E}), "h100-80gb"
    )
    proven = head(runs, verified=frozenset({gpu}))
    assert proven is not None and proven.gpu_batch_size == 3
    assert proven.verdict.verdict is OutputVerdict.VERIFIED


def test_head_alone_is_its_job_unchanged() -> None:
    runs = [queued_run("a", "j1"), queued_run("b", "j1"), queued_run("c", "j2", seed=5)]
    batch = head(runs)
    assert batch is not None
    assert batch.unchanged and set(batch.run_ids) == {"a", "b"}


def test_head_respects_max_batch_size() -> None:
    runs = [queued_run(f"r{i}", f"j{i}", queue_index=i) for i in range(8)]
    batch = head(runs, max_batch_size=3)
    assert batch is not None
    assert "r0" in batch.run_ids and len(batch.run_ids) <= 3
