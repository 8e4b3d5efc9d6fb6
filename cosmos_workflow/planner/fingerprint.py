"""A fingerprint of the exact queue state a plan was computed from.

A plan applies only if the queue still has this fingerprint: any run added, cancelled, claimed,
moved (priority or queue place) or edited (weights, parameters, negative prompt, video, batch
size) changes it; listing the same runs in another order does not."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from cosmos_workflow.domain.params import ExecutionParams
from cosmos_workflow.domain.work import QueuedRun


@lru_cache(maxsize=4096)
def _canonical_params(params: ExecutionParams) -> str:
    """Queues share a few parameter sets among many runs: encode each set once."""
    fields = params.to_dict()
    fields["guidance"] = float(fields["guidance"]).hex()
    sigma = fields["sigma_max"]
    fields["sigma_max"] = None if sigma is None else float(sigma).hex()
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _canonical(run: QueuedRun) -> str:
    fields: dict[str, Any] = {
        "run_id": run.run_id,
        "job_id": run.job_id,
        "priority": run.priority,
        "queue_index": run.queue_index,
        "weights": sorted((control.value, float(w).hex()) for control, w in run.weights.items()),
        "params": _canonical_params(run.params),
        "negative_prompt": run.negative_prompt,
        "video": [run.video.frames, float(run.video.fps).hex(), run.video.width, run.video.height],
        "kind": run.kind.value,
        "job_gpu_batch_size": run.job_gpu_batch_size,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def queue_fingerprint(runs: Sequence[QueuedRun]) -> str:
    """sha256 over the sorted canonical encodings of every run."""
    digest = hashlib.sha256()
    for line in sorted(_canonical(run) for run in runs):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
