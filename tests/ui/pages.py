"""Reading and driving the UI the way a person does: tabs, buttons, tables, toasts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

TOAST = ".toast-body"


def open_ui(page: Any, url: str) -> None:
    page.goto(url, timeout=90_000)
    page.wait_for_selector("#banner", timeout=90_000)
    expect(page.locator("#banner")).not_to_be_empty()


def tab(page: Any, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def table_rows(page: Any, elem_id: str) -> list[list[str]]:
    """The body rows of a gr.Dataframe as a person sees them (its grid rows; the table's
    aria-hidden sizing row is not data), as cell texts; an empty placeholder row is dropped."""
    rows = page.locator(f"#{elem_id} div[role=row]")
    found = []
    for index in range(rows.count()):
        cells = [c.strip() for c in rows.nth(index).locator("[role=gridcell]").all_inner_texts()]
        if any(cells):
            found.append(cells)
    return found


def toasts(page: Any) -> str:
    return "\n".join(page.locator(TOAST).all_inner_texts())


def analyze(page: Any, mode: str) -> str:
    tab(page, "Jobs")
    page.locator("#batch-mode").get_by_label(mode, exact=True).check()
    page.locator("#batch-analyze").click()
    summary = page.locator("#batch-summary")
    expect(summary).to_contain_text(re.compile("nothing to batch|speedup"), timeout=60_000)
    return str(summary.inner_text())


def screenshot(page: Any, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
