"""Browser tests: a real `cosmos serve` process (API, UI, embedded simulated worker) on a free
port with a fresh COSMOS_HOME, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosmos_workflow.services.context import Context
from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("COSMOS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "docs" / "screenshots"
SIM_TIME_SCALE = "0.0005"  # simulated GPU seconds run 2000x faster


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cosmos_script() -> str:
    """The `cosmos` console script installed next to this interpreter."""
    script = Path(sys.executable).parent / "cosmos"
    return str(script) if script.exists() else shutil.which("cosmos") or "cosmos"


class Server:
    """`cosmos serve` as a child process; restartable on the same port and database."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        # A stop gives a running job this long to finish before it is handed back (the default
        # 30 s would only slow each test's teardown).
        grace = {"COSMOS_STOP_GRACE_SECONDS": "1"}
        self.env = {**os.environ, **env, "COSMOS_SIM_TIME_SCALE": SIM_TIME_SCALE, **grace}
        self.env.pop("COSMOS_API_TOKEN", None)
        self.port = _free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, *args: str) -> Server:
        argv = [cosmos_script(), "serve", "--port", str(self.port), *args]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        token = self.env.get("COSMOS_API_TOKEN")  # a test that set one asks with it
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"cosmos serve exited:\n{self.log_path.read_text()}")
            try:
                health = httpx.get(f"{self.url}api/health", headers=headers, timeout=2)
                if health.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"cosmos serve did not answer:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    running = Server(env, tmp_path / "serve.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright Python package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextmanager
def browser_page(browser: Any) -> Iterator[Any]:
    """A page in a browser context of its own (its own cookies), closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with browser_page(browser) as opened:
        yield opened


@pytest.fixture
def seeded(ctx: Context, tmp_path: Path) -> dict[str, str]:
    """Two inputs with control videos, registered through the services."""
    from cosmos_workflow.services import inputs
    from tests.videos import make_input_folder

    made = {}
    for name in ("warehouse", "street"):
        folder = make_input_folder(tmp_path / "scenes" / name, controls=("depth", "edge", "seg"))
        made[name] = inputs.add_input(ctx, folder, name=name).id
    return made
