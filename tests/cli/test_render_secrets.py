"""`cosmos job render` never writes a host's `env` values: command.sh names them and takes them
from the environment it runs in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cosmos_workflow.services.context import Context
from tests.cli.runner import cosmos, cosmos_json
from tests.cli.test_render_and_runs import checkout, launchers
from tests.services.helpers import seed_prompts

SECRET = "hf_s3cr3t_value"


def test_command_sh_names_the_host_variables_but_holds_no_value(
    ctx: Context, tmp_path: Path
) -> None:
    job = cosmos_json("queue", "add", *seed_prompts(ctx, 1), "--weights", "edge=0.3")
    code = checkout(tmp_path)
    Path(os.environ["COSMOS_CONFIG"]).write_text(
        f'[[hosts]]\nname = "gpu1"\ncode_dir = "{code}"\nenv = {{ HF_TOKEN = "{SECRET}" }}\n'
    )
    out = tmp_path / "rendered"
    result = cosmos_json("job", "render", job["job_id"], "--out", str(out), "--stage")
    written = [path.read_text() for path in out.rglob("*") if path.suffix in (".sh", ".json")]
    assert SECRET not in str(result) and not any(SECRET in text for text in written)
    script = ["bash", str(out / "command.sh")]
    env = {k: v for k, v in launchers(tmp_path).items() if k != "HF_TOKEN"}

    unset = subprocess.run(script, env=env, capture_output=True, text=True)
    assert unset.returncode != 0 and "set HF_TOKEN (env of host gpu1" in unset.stderr
    done = subprocess.run(script, env=env | {"HF_TOKEN": SECRET}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "outputs" / "stand_in.json").is_file()


def test_a_host_variable_name_that_is_not_an_identifier_is_refused(
    ctx: Context, tmp_path: Path
) -> None:
    job = cosmos_json("queue", "add", *seed_prompts(ctx, 1), "--weights", "edge=0.3")
    Path(os.environ["COSMOS_CONFIG"]).write_text(
        '[[hosts]]\nname = "gpu1"\ncode_dir = "/opt/ct1"\nenv = { "A}; touch x" = "1" }\n'
    )
    out = tmp_path / "rendered"
    code, _, err = cosmos("job", "render", job["job_id"], "--out", str(out))
    assert code == 2 and "invalid environment variable name" in err
    assert not out.exists()
