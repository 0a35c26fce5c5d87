"""Mounts the review console on the API: the /keys, /whoami and /review routes, their errors as
the API's JSON error bodies, and the console page with its assets (served from the package: no
CDN, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from gavel.api.errors import error_response
from gavel.auth import routes as key_routes
from gavel.auth.deps import AuthDenied
from gavel.review import routes as review_routes
from gavel.review.reads import ReviewError

CONSOLE = Path(__file__).resolve().parent / "console"


def install_review(app: FastAPI) -> None:
    @app.exception_handler(AuthDenied)
    async def _denied(request: Request, exc: AuthDenied) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, [("authorization", exc.message)], headers)

    @app.exception_handler(ReviewError)
    async def _refused(request: Request, exc: ReviewError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, [(exc.field, exc.message)])

    app.include_router(key_routes.router)
    app.include_router(review_routes.router)

    @app.get("/console", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(CONSOLE / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/console/", include_in_schema=False)
    async def console_slash() -> RedirectResponse:
        return RedirectResponse("/console")

    app.mount("/console/assets", StaticFiles(directory=CONSOLE), name="console-assets")
