"""Mounts the review console on the API: the /keys, /whoami and /review routes, their errors as
the API's JSON error bodies, and the console page with its assets (served from the package: no
CDN, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError

from gavel.api.errors import error_response
from gavel.auth import routes as key_routes
from gavel.auth.deps import AuthDenied, review_of, store_denied
from gavel.review import routes as review_routes
from gavel.review.reads import ReviewError
from gavel.store.engine import StoreError

CONSOLE = Path(__file__).resolve().parent / "console"


def _denied_response(exc: AuthDenied) -> JSONResponse:
    headers = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}.get(exc.status)
    field = "authorization" if exc.status in (401, 403) else "store"
    return error_response(exc.status, exc.code, exc.message, [(field, exc.message)], headers)


def install_review(app: FastAPI) -> None:
    @app.exception_handler(AuthDenied)
    async def _denied(request: Request, exc: AuthDenied) -> JSONResponse:
        return _denied_response(exc)

    @app.exception_handler(StoreError)
    async def _store_failed(request: Request, exc: StoreError) -> JSONResponse:
        # the review tables' first use migrates them (and may find the database down)
        return _denied_response(store_denied(exc))

    @app.exception_handler(SQLAlchemyError)
    async def _database_failed(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # a review query met the database going away: classified (and counted in /readyz) by the store
        review = review_of(request)
        if review is None:
            raise exc
        return _denied_response(store_denied(review.store.failed(exc)))

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
