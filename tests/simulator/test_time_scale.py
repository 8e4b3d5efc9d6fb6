"""The simulator's time scale (real seconds per simulated GPU second): fast by default, set by
`sim_time_scale` in cosmos.toml or COSMOS_SIM_TIME_SCALE (which wins, also when it is set after
the settings were read), refused unless a number from 0 to 1000, and never leaking into what the
worker measures: a run played a hundred times faster still records simulated GPU seconds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from cosmos_workflow.backends.base import RenderedJob
from cosmos_workflow.config import HostConfig, Settings, load_settings
from cosmos_workflow.domain.errors import ConfigError
from cosmos_workflow.services import queue
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.targets import HostChoice, simulated_time_scale
from cosmos_workflow.simulator.runtime import DEFAULT_TIME_SCALE, TIME_SCALE_ENV
from cosmos_workflow.store.models import RunRow, TimingRow
from cosmos_workflow.worker.execute import host_environment
from cosmos_workflow.worker.loop import run_worker
from tests.services.helpers import seed_prompts
from tests.simulator.conftest import simulate

RENDERED = RenderedJob(argv=("python", "transfer.py"), cwd=".", env={})


@pytest.fixture(autouse=True)
def no_scale_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variable itself, or proves what happens without it."""
    monkeypatch.delenv(TIME_SCALE_ENV, raising=False)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cosmos.toml"
    path.write_text("")
    monkeypatch.setenv("COSMOS_CONFIG", str(path))
    monkeypatch.setenv("COSMOS_HOME", str(tmp_path / "home"))
    return path


def _simulated(env: dict[str, str] | None = None) -> HostChoice:
    return HostChoice(HostConfig(name="node", simulate=True, env=env or {}), True, False)


def _scale_passed(choice: HostChoice, settings: Settings) -> str:
    env = host_environment(choice, RENDERED, sim_time_scale=settings.sim_time_scale)
    return env[TIME_SCALE_ENV]


def test_nothing_set_plays_a_hundred_times_faster_than_real_time(config_file: Path) -> None:
    settings = load_settings()
    assert DEFAULT_TIME_SCALE == settings.sim_time_scale == 0.01
    assert _scale_passed(_simulated(), settings) == "0.01"


def test_the_file_sets_it_and_the_variable_wins(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file.write_text("sim_time_scale = 1\n")
    settings = load_settings()
    assert settings.sim_time_scale == 1.0, "real time stays available"
    assert _scale_passed(_simulated(), settings) == "1.0"
    monkeypatch.setenv(TIME_SCALE_ENV, "0.5")
    assert load_settings().sim_time_scale == 0.5
    # Set after the settings were read (as `cosmos demo` does): the simulator still gets it.
    assert _scale_passed(_simulated(), settings) == "0.5"


def test_a_host_env_table_sets_it_for_that_host_below_the_variable(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings()
    own = _simulated({TIME_SCALE_ENV: "0.2"})
    assert simulated_time_scale(own, settings.sim_time_scale) == 0.2
    assert simulated_time_scale(_simulated(), settings.sim_time_scale) == 0.01
    monkeypatch.setenv(TIME_SCALE_ENV, "0")
    assert _scale_passed(own, settings) == "0.0"


def test_a_real_host_gets_no_time_scale(config_file: Path) -> None:
    real = HostChoice(HostConfig(name="gpu1"), False, False)
    assert TIME_SCALE_ENV not in host_environment(real, RENDERED, sim_time_scale=0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sim_time_scale = -1", "sim_time_scale: expected a number >= 0, got -1"),
        ("sim_time_scale = 5000", "sim_time_scale: expected a number <= 1000, got 5000"),
        ("sim_time_scale = nan", "sim_time_scale: expected a finite number, got nan"),
        ("sim_time_scale = inf", "sim_time_scale: expected a finite number, got inf"),
        ("sim_time_scale = 'fast'", "sim_time_scale: expected a number, got 'fast'"),
    ],
)
def test_a_bad_value_in_the_file_is_refused_by_name(
    config_file: Path, text: str, message: str
) -> None:
    config_file.write_text(text + "\n")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.message == f"{config_file}: {message}"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-0.5", "expected a number >= 0, got '-0.5'"),
        ("nan", "expected a finite number, got 'nan'"),
        ("infinity", "expected a finite number, got 'infinity'"),
        ("soon", "expected a number, got 'soon'"),
    ],
)
def test_a_bad_variable_is_refused_by_name(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv(TIME_SCALE_ENV, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.message == f"{TIME_SCALE_ENV}: {message}"


@pytest.mark.parametrize("value", ["-1", "nan", "1e9", "fast"])
def test_a_bad_value_set_later_or_in_a_host_env_table_is_refused_by_name(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match=rf"^host 'node' env: {TIME_SCALE_ENV}: expected a"):
        simulated_time_scale(_simulated({TIME_SCALE_ENV: value}), settings.sim_time_scale)
    monkeypatch.setenv(TIME_SCALE_ENV, value)
    with pytest.raises(ConfigError, match=rf"^the environment: {TIME_SCALE_ENV}: expected a"):
        _scale_passed(_simulated(), settings)


@pytest.mark.parametrize("value", ["-1", "nan", "fast"])
def test_the_simulator_refuses_a_bad_scale_before_it_starts(tmp_path: Path, value: str) -> None:
    done = simulate(
        ["python", "cosmos_transfer1/diffusion/inference/transfer.py"],
        tmp_path,
        env={TIME_SCALE_ENV: value},
    )
    assert done.returncode == 2
    assert f"cosmos-sim: {TIME_SCALE_ENV}: expected a number from 0 to 1000" in done.stderr
    assert not list(tmp_path.iterdir()), "nothing was written"


def test_a_run_played_fast_records_simulated_gpu_seconds_not_wall_seconds(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same job played without waiting (0) and at the default scale (about 100x faster
    than real time) records the same load and compute: the simulator's own log clock, near the
    cost model's unscaled prediction, never the wall time, so calibration never learns that a
    model loads in a second."""
    prompts = seed_prompts(ctx, 2)
    jobs = [
        queue.enqueue(ctx, queue.build_request([prompt_id], {"edge": 0.5})).job_id
        for prompt_id in prompts
    ]
    monkeypatch.setenv(TIME_SCALE_ENV, "0")
    assert run_worker(ctx, simulate=True, once=True) == 1
    monkeypatch.delenv(TIME_SCALE_ENV)
    started = time.monotonic()
    assert run_worker(ctx, simulate=True, exit_when_idle=True) == 1
    wall = time.monotonic() - started
    with ctx.db.read() as session:
        unscaled, scaled = (
            session.scalars(select(TimingRow).where(TimingRow.job_id == job_id)).one()
            for job_id in jobs
        )
        run = session.scalars(select(RunRow).where(RunRow.job_id == jobs[1])).one()
    measured = scaled.load_seconds + scaled.compute_seconds
    assert scaled.simulated and scaled.predicted_seconds is not None
    assert scaled.load_seconds == pytest.approx(unscaled.load_seconds, rel=0.05)
    assert scaled.compute_seconds == pytest.approx(unscaled.compute_seconds, rel=0.05)
    # The default cost model, not yet calibrated, is within a quarter of the simulator.
    assert measured == pytest.approx(scaled.predicted_seconds, rel=0.25)
    assert scaled.load_seconds > wall and scaled.compute_seconds > wall, (
        f"load {scaled.load_seconds:.1f} s and compute {scaled.compute_seconds:.1f} s recorded "
        f"in {wall:.1f} s of wall time"
    )
    assert run.compute_seconds == pytest.approx(scaled.compute_seconds, abs=0.01)
    # The default scale did play it: at least a hundredth of its simulated time passed.
    assert wall > 0.9 * DEFAULT_TIME_SCALE * measured
