"""`cosmos job render`: write exactly what would be sent to a host for a job.

The folder it writes holds the job's files and a `command.sh` that runs the job on the target
host from any directory: the entry point is absolute under the host's checkout of NVIDIA's code
(`code_dir`, which must therefore be absolute), every file argument is absolute under the work
directory (the folder itself, or the path it will have on the target host), the command runs from
the checkout with the backend's and the host's environment."""

from __future__ import annotations

import dataclasses
import json
import posixpath
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow.backends import get_backend
from cosmos_workflow.backends.base import RenderedJob
from cosmos_workflow.domain.errors import Conflict, InvalidInput, NotFound
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.hosts.base import check_env
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from cosmos_workflow.services.targets import HostChoice, choose_host


class RenderResult(BaseModel):
    out: str
    workdir: str  # the folder's path on the target host; file arguments are under it
    code_dir: str  # the checkout the command runs from
    files: list[str]
    staged: list[str]  # input files copied into the folder (--stage)
    argv: list[str]


def render_job(
    ctx: Context,
    job_id: str,
    out: Path,
    *,
    host_name: str | None = None,
    target_dir: str | None = None,
    code_dir: str | None = None,
    stage: bool = False,
) -> RenderResult:
    """Render job `job_id` into the new or empty folder `out`.

    `target_dir`: the path `out` will have on the target host (default: `out` here, made
    absolute). `code_dir`: the checkout on that host, instead of the host's configured one.
    `stage`: also copy the input videos into `out`, so the folder is self-contained; otherwise
    stage.json lists what to copy where."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} must be a new or empty folder", field="out")
    workdir = _absolute(target_dir or str(out.resolve()), "target_dir", "the target folder")
    with ctx.db.read() as session:
        job = load_job_work(session, job_id, statuses=tuple(RunStatus))
    if not job.runs:
        raise Conflict(f"job {job_id} holds no runs (it was merged into a batch?)")
    choice = choose_host(ctx.settings, host_name, simulate=False)
    check_env(choice.config.env)  # its names go into command.sh
    target = choice.target
    checkout = _absolute(
        code_dir or target.code_dir,
        "code_dir",
        f"the checkout of NVIDIA's code (host {choice.config.name!r} has "
        f"code_dir = {target.code_dir!r}; set it in cosmos.toml or pass --code-dir)",
    )
    target = dataclasses.replace(target, code_dir=checkout)
    rendered = get_backend(job.backend).render(job, target, workdir)
    if stage:
        _check_sources(rendered.stage)
    out.mkdir(parents=True, exist_ok=True)
    written = _write_files(out, rendered)
    staged = _stage(out, rendered.stage) if stage else []
    (out / "command.sh").write_text(_script(job_id, choice, rendered, workdir, stage))
    written.append("command.sh")
    return RenderResult(
        out=str(out),
        workdir=workdir,
        code_dir=checkout,
        files=sorted(written),
        staged=sorted(staged),
        argv=list(rendered.argv),
    )


def _absolute(path: str, field: str, what: str) -> str:
    """Target hosts are Linux machines; the command runs from anywhere, so paths are absolute."""
    if not posixpath.isabs(path):
        raise InvalidInput(
            f"{path!r} is a relative path; job render needs {what} as an absolute "
            "path on the target host",
            field=field,
        )
    return posixpath.normpath(path)


def _check_sources(sources: Mapping[str, Path]) -> None:
    missing = [str(source) for source in sources.values() if not source.is_file()]
    if missing:
        raise NotFound(f"input file(s) to stage are missing: {', '.join(missing)}")


def _write_files(out: Path, rendered: RenderedJob) -> list[str]:
    written = []
    for relpath, text in rendered.files.items():
        path = out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relpath)
    (out / "argv.json").write_text(json.dumps(list(rendered.argv), indent=2) + "\n")
    stage = {rel: str(src) for rel, src in rendered.stage.items()}
    (out / "stage.json").write_text(json.dumps(stage, indent=2) + "\n")
    return [*written, "argv.json", "stage.json"]


def _stage(out: Path, sources: Mapping[str, Path]) -> list[str]:
    for relpath, source in sources.items():
        path = out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    return list(sources)


def _script(
    job_id: str, choice: HostChoice, rendered: RenderedJob, workdir: str, staged: bool
) -> str:
    # The variables as the worker sets them: the backend's, then the host's. The host's (`env`
    # in cosmos.toml) may hold tokens: the script names them and takes them from the environment
    # it runs in, so no value is written into it.
    host_env = list(choice.config.env)  # names checked by render_job: safe in a shell
    assignments = " ".join(
        f"{k}={shlex.quote(v)}" for k, v in rendered.env.items() if k not in choice.config.env
    )
    required = "".join(
        f': "${{{name}?set {name} (env of host {choice.config.name} in cosmos.toml)}}"\n'
        for name in host_env
    )
    inputs = (
        "the input videos are in it (copied by --stage)"
        if staged
        else "copy the files listed in stage.json into it first"
    )
    return (
        "#!/usr/bin/env bash\n"
        f"# Job {job_id} rendered for host {choice.config.name}; runs from any directory there.\n"
        f"# Work directory (this folder on the target host): {workdir}; {inputs}.\n"
        "set -euo pipefail\n"
        f"{required}"
        f"cd {shlex.quote(rendered.cwd)}\n"
        f"exec {'env ' + assignments + ' ' if assignments else ''}{shlex.join(rendered.argv)}\n"
    )
