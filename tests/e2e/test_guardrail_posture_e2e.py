"""The guardrail posture of each run, end to end: real worker code on hosts that ask for
guardrails on or off, running the simulator of Transfer1 and Transfer2.5 as real processes; the
posture each run records, what `cosmos runs show` prints, and what the model process was told.
Cosmos 3 runs on a host that disables them: they are not loaded (`--no-guardrails`) and
the model would not have applied them anyway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.config import load_settings
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.store.models import AttemptRow
from cosmos_workflow.worker.loop import run_worker
from tests.e2e.conftest import Cosmos
from tests.services.helpers import seed_prompts

pytestmark = pytest.mark.slow

HOSTS = """
[[hosts]]
name = "guarded"
simulate = true

[[hosts]]
name = "unguarded"
simulate = true
disable_guardrails = true
"""


@pytest.fixture
def fleet(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Context]:
    """A context whose configuration declares both hosts (written before it is read)."""
    Path(env["COSMOS_CONFIG"]).write_text(HOSTS)
    monkeypatch.setenv("COSMOS_SIM_TIME_SCALE", "0")
    ctx = Context(load_settings())
    yield ctx
    ctx.db.dispose()


@pytest.mark.parametrize(
    ("backend", "host", "asked", "got", "shown"),
    [
        ("transfer1", "guarded", "on", "on", "guardrails: on"),
        (
            "transfer1",
            "unguarded",
            "off",
            "on",
            "guardrails: asked off, got on (Transfer1 cannot turn them off)",
        ),
        ("transfer2.5", "guarded", "on", "on", "guardrails: on"),
        ("transfer2.5", "unguarded", "off", "off", "guardrails: off"),
        (
            "cosmos3",
            "unguarded",
            "off",
            "not applied by the model",
            "guardrails: asked off, got not applied by the model (Cosmos 3 transfer never runs "
            "them)",
        ),
    ],
)
def test_each_run_records_the_posture_its_host_asked_and_its_model_got(
    fleet: Context,
    cosmos: Cosmos,
    backend: str,
    host: str,
    asked: str,
    got: str,
    shown: str,
) -> None:
    prompt_ids = seed_prompts(fleet, 2)
    request = queue.build_request(prompt_ids, {"edge": 0.5}, {"backend": backend})
    job_id = queue.enqueue(fleet, request).job_id
    assert all(r.guardrails_asked is None for r in queue.get_job(fleet, job_id).runs)
    assert run_worker(fleet, host_name=host, once=True) == 1
    job = queue.get_job(fleet, job_id)
    assert job.status == "succeeded" and job.host_name == host, [r.error for r in job.runs]
    assert [(r.guardrails_asked, r.guardrails_got) for r in job.runs] == [(asked, got)] * 2
    for run in job.runs:
        assert shown in cosmos("runs", "show", run.id).stdout.splitlines()
        shown_json = cosmos.json("runs", "show", run.id)
        assert (shown_json["guardrails_asked"], shown_json["guardrails_got"]) == (asked, got)
    with fleet.db.read() as session:
        (argv,) = session.scalars(select(AttemptRow.argv).where(AttemptRow.job_id == job_id))
    # What the process was told: Transfer2.5 is asked to turn them off, Cosmos 3 not to load
    # them for nothing; Transfer1 has no switch.
    assert ("--disable-guardrails" in argv) == (backend == "transfer2.5" and asked == "off")
    assert ("--no-guardrails" in argv) == (backend == "cosmos3" and asked == "off")
