"""The browser fixtures of tests/ui (a `cosmos serve` child process, headless Chromium)."""

from tests.ui.conftest import browser, page, server

__all__ = ["browser", "page", "server"]
