"""`cosmos worker` and `cosmos calibrate`."""

from __future__ import annotations

import logging
import signal
from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, err_console, table

StopGraceOption = Annotated[
    float | None,
    typer.Option(
        min=0,
        max=86_400,
        help="Seconds a running job may go on after SIGTERM or Ctrl-C before it is ended and "
        "given back to the queue (default: stop_grace_seconds, 30).",
    ),
]


def worker(
    host: Annotated[
        list[str] | None,
        typer.Option(help="A host from cosmos.toml; repeat for several (default: every host)."),
    ] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            help="Run the simulator instead of NVIDIA's code, sim_time_scale real seconds per "
            "simulated GPU second (default 0.01; 1 = real time)."
        ),
    ] = False,
    once: Annotated[bool, typer.Option(help="Run at most one job, then exit.")] = False,
    max_jobs: Annotated[int | None, typer.Option(min=1, help="Exit after this many jobs.")] = None,
    exit_when_idle: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
    stop_grace: StopGraceOption = None,
) -> None:
    """Claim jobs and run them on every GPU slot of the given hosts, one job per slot at once,
    each pinned to its slot's devices. SIGTERM or Ctrl-C lets the running jobs finish for the
    stop grace, then ends them and gives them back to the queue (a second one ends them at
    once)."""
    from cosmos_workflow.worker.loop import run_worker
    from cosmos_workflow.worker.stopping import StopRequests

    logging.getLogger("cosmos_workflow").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = context()
    grace = ctx.settings.stop_grace_seconds if stop_grace is None else stop_grace
    requests = StopRequests(grace)

    def on_signal(signum: int, _frame: Any) -> None:
        if requests.request():
            err_console.print(
                f"stopping: the running job may finish for {grace:g} s, then it goes back to "
                "the queue (signal again to end it now)"
            )
        else:
            err_console.print("stopping now: ending the running job; it goes back to the queue")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        done = run_worker(
            ctx,
            host_names=host or (),
            simulate=simulate,
            stop=requests.stop,
            kill=requests.kill,
            once=once,
            max_jobs=max_jobs,
            exit_when_idle=exit_when_idle,
        )
    finally:
        requests.close()
    err_console.print(f"worker ran {done} job(s)")


def calibrate(
    backend: Annotated[str | None, typer.Option(help="Only this backend.")] = None,
    gpu_profile: Annotated[str | None, typer.Option(help="Only this GPU profile.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fit the planner's cost model to measured timings and report the fit error."""
    from cosmos_workflow.services import calibration

    result = calibration.calibrate(context(), backend=backend, gpu_profile=gpu_profile)

    def render(r: Any) -> None:
        console.print(
            table(
                "Calibration",
                ["backend", "GPU profile", "samples", "mean error", "max error"],
                (
                    [
                        f.backend,
                        f.gpu_profile,
                        f.samples,
                        f"{f.mean_abs_error_pct:.1f}%",
                        f"{f.max_abs_error_pct:.1f}%",
                    ]
                    for f in r.fits
                ),
            )
        )

    emit(result, as_json, render)
