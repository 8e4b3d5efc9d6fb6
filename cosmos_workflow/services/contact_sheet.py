"""The contact sheet an export writes: every grid of a review on one PNG, a frame of each cell's
output under its axis labels, the picked cells framed in green, so a folder of picked videos
still shows what they were picked from."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cosmos_workflow.services.media import first_frame

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from cosmos_workflow.services.review import ReviewCell, ReviewPage

CELL_W, CELL_H = 192, 108  # a 16:9 frame; other shapes are fitted inside it
LABEL_W = 120  # the row labels' column
TITLE_H = 24  # each page's prompt and seed
HEADER_H = 20  # the column labels
MARGIN = 12
PAGE_GAP = 16
PICKED = (46, 204, 113)
BACKGROUND = (24, 24, 28)
EMPTY = (60, 60, 66)
TEXT = (235, 235, 235)
BORDER = 4


def sheet_size(pages: Sequence[ReviewPage]) -> tuple[int, int]:
    """Width and height of the sheet for these pages (stacked, each as wide as it needs)."""
    columns = max((len(p.cells[0]) if p.cells else 0 for p in pages), default=0)
    width = 2 * MARGIN + LABEL_W + max(columns, 1) * CELL_W
    height = 2 * MARGIN + sum(_page_height(p) for p in pages) + PAGE_GAP * max(len(pages) - 1, 0)
    return width, height


def _page_height(page: ReviewPage) -> int:
    return TITLE_H + HEADER_H + len(page.cells) * CELL_H


def cell_origin(pages: Sequence[ReviewPage], page: int, row: int, column: int) -> tuple[int, int]:
    """The top-left pixel of a cell's frame on the sheet."""
    top = MARGIN + sum(_page_height(p) + PAGE_GAP for p in pages[:page])
    return MARGIN + LABEL_W + column * CELL_W, top + TITLE_H + HEADER_H + row * CELL_H


def write_contact_sheet(pages: Sequence[ReviewPage], dest: Path) -> Path:
    from PIL import Image, ImageDraw

    sheet = Image.new("RGB", sheet_size(pages), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for index, page in enumerate(pages):
        _draw_labels(draw, pages, index)
        for r, row in enumerate(page.cells):
            for c, cell in enumerate(row):
                _draw_cell(sheet, draw, cell, cell_origin(pages, index, r, c))
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial.png")
    sheet.save(partial, format="PNG")
    partial.replace(dest)
    return dest


def _draw_labels(draw: ImageDraw.ImageDraw, pages: Sequence[ReviewPage], index: int) -> None:
    page = pages[index]
    left, top = cell_origin(pages, index, 0, 0)
    title = page.prompt_name or page.prompt_id
    seed = "" if page.seed is None else f"  seed {page.seed}"
    fixed = "".join(f"  {c}={v:g}" for c, v in page.fixed.items())
    text = f"{title}{seed}{fixed}: {page.prompt_text or ''}"
    draw.text((MARGIN, top - TITLE_H - HEADER_H + 4), text[:120], fill=TEXT)
    if page.columns is not None:
        for c, value in enumerate(page.columns.values):
            label = f"{page.columns.control} {value:g}"
            draw.text((left + c * CELL_W + 6, top - HEADER_H + 4), label, fill=TEXT)
    if page.rows is not None:
        for r, value in enumerate(page.rows.values):
            label = f"{page.rows.control} {value:g}"
            draw.text((MARGIN, top + r * CELL_H + CELL_H // 2 - 6), label, fill=TEXT)


def _draw_cell(
    sheet: PILImage.Image, draw: ImageDraw.ImageDraw, cell: ReviewCell, origin: tuple[int, int]
) -> None:
    x, y = origin
    inner = (x + BORDER, y + BORDER, x + CELL_W - BORDER, y + CELL_H - BORDER)
    frame = _frame(cell)
    if frame is None:
        draw.rectangle(inner, fill=EMPTY)
        status = cell.run.status if cell.run else "no run"
        draw.text((inner[0] + 6, inner[1] + 6), status, fill=TEXT)
    else:
        frame.thumbnail((inner[2] - inner[0], inner[3] - inner[1]))
        sheet.paste(frame, (inner[0], inner[1]))
    if cell.run is not None and cell.run.picked:
        draw.rectangle((x, y, x + CELL_W - 1, y + CELL_H - 1), outline=PICKED, width=BORDER)
    if cell.run is not None and cell.run.rating:
        draw.text((inner[0] + 4, inner[3] - 14), "*" * cell.run.rating, fill=PICKED)


def _frame(cell: ReviewCell) -> PILImage.Image | None:
    """The output's thumbnail (its first frame), else the first frame decoded from the output."""
    from PIL import Image

    run = cell.run
    if run is None or cell.video_url is None or run.output_path is None:
        return None
    if run.thumbnail_path and Path(run.thumbnail_path).is_file():
        with Image.open(run.thumbnail_path) as image:
            return image.convert("RGB")
    return first_frame(run.output_path)
