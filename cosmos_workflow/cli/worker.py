"""`cosmos worker` and `cosmos calibrate`."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated, Any

import typer

from cosmos_workflow.cli.common import JsonOption, console, context, emit, err_console, table


def worker(
    host: Annotated[str | None, typer.Option(help="A host from cosmos.toml.")] = None,
    simulate: Annotated[
        bool, typer.Option(help="Run the simulator instead of NVIDIA's code.")
    ] = False,
    once: Annotated[bool, typer.Option(help="Run at most one job, then exit.")] = False,
    max_jobs: Annotated[int | None, typer.Option(min=1, help="Exit after this many jobs.")] = None,
    exit_when_idle: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
) -> None:
    """Claim jobs and run them on one host. Ctrl-C finishes the running job; twice kills it."""
    from cosmos_workflow.worker.loop import run_worker

    logging.getLogger("cosmos_workflow").setLevel(logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop, kill = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            err_console.print("stopping now: killing the running job")
            kill.set()
            return
        err_console.print("stopping after the running job (press again to kill it)")
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    done = run_worker(
        context(),
        host_name=host,
        simulate=simulate,
        stop=stop,
        kill=kill,
        once=once,
        max_jobs=max_jobs,
        exit_when_idle=exit_when_idle,
    )
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
