"""`cosmos job render`: write exactly what would be sent to a host for a job."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pydantic import BaseModel

from cosmos_workflow.backends import get_backend
from cosmos_workflow.domain.errors import Conflict, InvalidInput
from cosmos_workflow.domain.states import RunStatus
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.jobwork import load_job_work
from cosmos_workflow.services.targets import choose_host


class RenderResult(BaseModel):
    out: str
    files: list[str]
    argv: list[str]


def render_job(
    ctx: Context, job_id: str, out: Path, *, host_name: str | None = None
) -> RenderResult:
    """Render with file arguments relative to `out`; input videos are listed, not copied."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInput(f"{out} must be a new or empty folder", field="out")
    with ctx.db.read() as session:
        job = load_job_work(session, job_id, statuses=tuple(RunStatus))
    if not job.runs:
        raise Conflict(f"job {job_id} holds no runs (it was merged into a batch?)")
    target = choose_host(ctx.settings, host_name, simulate=False).target
    rendered = get_backend(job.backend).render(job, target, ".")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for relpath, text in rendered.files.items():
        path = out / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relpath)
    argv = list(rendered.argv)
    (out / "argv.json").write_text(json.dumps(argv, indent=2) + "\n", encoding="utf-8")
    (out / "stage.json").write_text(
        json.dumps({rel: str(src) for rel, src in rendered.stage.items()}, indent=2) + "\n",
        encoding="utf-8",
    )
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in rendered.env.items())
    script = (
        "#!/usr/bin/env bash\n"
        "# File arguments are relative to this folder; copy the inputs listed in stage.json\n"
        f"# into it first. The entry point runs from the code checkout: {rendered.cwd}\n"
        'set -euo pipefail\ncd "$(dirname "$0")"\n'
        f"{'env ' + env + ' ' if env else ''}{shlex.join(argv)}\n"
    )
    (out / "command.sh").write_text(script, encoding="utf-8")
    written += ["argv.json", "stage.json", "command.sh"]
    return RenderResult(out=str(out), files=sorted(written), argv=argv)
