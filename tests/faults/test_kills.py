"""Worker processes SIGKILLed at 20 random moments (claiming, staging, while the model process
runs, while collecting, during the final write), with a new worker started after each kill so
two keep running, on SQLite and on PostgreSQL: at the end every run ended exactly once (and
succeeded: attempts are not used up by the kills), no output was replaced after its run
finished, and no simulator process is left (the orphans of killed workers were ended).

The random seed is printed in every failure message; set COSMOS_TEST_SEED to replay one.
benchmarks/soak.py runs the same soak longer."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from benchmarks.soak import SoakPlan, run_soak
from tests.e2e.conftest import BOTH_DATABASES

pytestmark = pytest.mark.slow

KILLS = 20


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", BOTH_DATABASES, indirect=True)
def test_twenty_kills_lose_nothing_and_run_nothing_twice(
    env: dict[str, str], tmp_path: Path
) -> None:
    seed = int(os.environ.get("COSMOS_TEST_SEED") or random.SystemRandom().randrange(1 << 31))
    plan = SoakPlan(jobs=14, kills=KILLS, workers=2, seed=seed)
    result = run_soak(env, plan, tmp_path / "logs")
    problems = result.problems()
    assert not problems, f"{result.describe()}\n" + "\n".join(problems)
    assert result.ledger.attempts > result.jobs, f"no kill hit a running job: {result.describe()}"
