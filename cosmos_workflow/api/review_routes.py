"""The review routes: a sweep's grid, picking runs, the input and control videos a run was made
from, the export of the picked runs, and the review page itself (`GET /review`, plain HTML with
its script and style served from api/review_static/, nothing from elsewhere).

The page holds no data: it reads everything from these routes, so the token guard that stands
before /api guards it too; a page asked for without the session cookie shows a token form."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi import Path as InPath
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import Field

from cosmos_workflow.api.errors import error_responses
from cosmos_workflow.api.files import VIDEO_TYPES, confined_file, media_type_of
from cosmos_workflow.api.models import NO_NUL, Body, Name, PathText
from cosmos_workflow.domain.errors import NotFound
from cosmos_workflow.domain.text import MAX_NAME_CHARS
from cosmos_workflow.services import review, runs
from cosmos_workflow.services.context import Context
from cosmos_workflow.services.media import playable_video, previews_dir, served_dirs
from cosmos_workflow.services.review import ExportResult, ReviewGrid
from cosmos_workflow.services.views import RunView

Id = Annotated[str, InPath(pattern=NO_NUL, max_length=MAX_NAME_CHARS)]
Text = Annotated[str | None, Query(pattern=NO_NUL, max_length=MAX_NAME_CHARS)]
STATIC = "review_static"
# The page's files by the name it asks for them with, and their media types.
ASSETS = {"review.js": "text/javascript", "review.css": "text/css"}


class PickRequest(Body):
    picked: bool = Field(description="true picks the run for export; false unpicks it.")


class ExportRequest(Body):
    sweep: Name = Field(description="The sweep's id or name.")
    folder: PathText = Field(
        description="The folder on the server to write into: under an allowed input root."
    )
    overwrite: bool = Field(False, description="Replace files of an earlier export there.")


def _file_answer() -> dict[int | str, dict[str, Any]]:
    content = {media: {"schema": {"type": "string", "format": "binary"}} for media in VIDEO_TYPES}
    return {200: {"content": content, "description": "The video."}, **error_responses(404, 422)}


def add_review_routes(router: APIRouter, ctx: Context) -> None:
    """The review's /api routes, on the API's router (so its token guard covers them)."""

    @router.get(
        "/review", tags=["review"], operation_id="get_review", responses=error_responses(404, 422)
    )
    def get_review(
        sweep: Text = None,
        status: Text = None,
        job_id: Text = None,
        prompt_id: Text = None,
        controls: Text = None,
        rating: Annotated[int | None, Query(ge=1, le=5)] = None,
        picked: bool | None = None,
    ) -> ReviewGrid:
        """A sweep's runs as grids: rows the first weight axis, columns the second, one grid per
        prompt and seed (and per value of any further axis). Without `sweep`, the runs the
        filters choose (as `GET /api/runs`), laid out by the weights that vary among them."""
        return review.review_grid(
            ctx,
            sweep,
            status=status,
            job_id=job_id,
            prompt_id=prompt_id,
            controls=controls,
            rating=rating,
            picked=picked,
        )

    @router.post(
        "/runs/{run_id}/pick",
        tags=["review"],
        operation_id="pick_run",
        responses=error_responses(400, 404, 422),
    )
    def pick_run(run_id: Id, body: PickRequest) -> RunView:
        """Pick a run for the export (or unpick it)."""
        return runs.pick_run(ctx, run_id, body.picked)

    @router.post(
        "/review/export",
        tags=["review"],
        operation_id="export_review",
        responses=error_responses(400, 404, 409, 422),
    )
    def export_review(body: ExportRequest) -> ExportResult:
        """Copy the sweep's picked outputs into a folder on the server with manifest.json,
        manifest.csv and a contact sheet (as `cosmos review export`); 409 when nothing is picked,
        a picked run has no output, or the folder holds files of the same names (unless
        `overwrite`)."""
        return review.export_picked(ctx, body.sweep, Path(body.folder), overwrite=body.overwrite)

    @router.get(
        "/inputs/{name_or_id}/video",
        tags=["inputs"],
        operation_id="get_input_video",
        response_class=FileResponse,
        responses=_file_answer(),
    )
    def input_video(name_or_id: Id) -> FileResponse:
        """The input's RGB video, as a browser plays it (an H.264 copy where it is not)."""
        return _playable(ctx, review.input_video(ctx, name_or_id))

    @router.get(
        "/inputs/{name_or_id}/controls/{control}/video",
        tags=["inputs"],
        operation_id="get_input_control_video",
        response_class=FileResponse,
        responses=_file_answer(),
    )
    def control_video(name_or_id: Id, control: Id) -> FileResponse:
        """The input's video of one control (depth, seg, edge, vis), as a browser plays it."""
        return _playable(ctx, review.control_video(ctx, name_or_id, control))


def _playable(ctx: Context, path: Path) -> FileResponse:
    """Inputs lie in the user's folders, which the server never serves as they are: a playable
    link or copy (or an H.264 transcode) under COSMOS_HOME/previews is served instead."""
    settings = ctx.settings
    preview = playable_video(path, previews_dir(settings), served_dirs(settings))
    if preview is None:
        raise NotFound(f"{path.name} cannot be read as a video")
    served = confined_file(ctx, str(preview), f"the preview of {path.name}")
    return FileResponse(served, media_type=media_type_of(served))


def add_review_page(app: FastAPI) -> None:
    """`GET /review` and its two static files; registered before the UI's mount at /."""

    @app.get("/review", include_in_schema=False)
    def review_page() -> HTMLResponse:
        return HTMLResponse(_asset("review.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/review/static/{name}", include_in_schema=False)
    def review_asset(name: str) -> Response:
        if name not in ASSETS:
            raise NotFound(f"no review file {name!r}")
        return Response(
            _asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"}
        )


def _asset(name: str) -> str:
    return (resources.files("cosmos_workflow.api") / STATIC / name).read_text(encoding="utf-8")
