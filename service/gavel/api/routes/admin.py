"""Admin endpoints (disabled unless GAVEL_ADMIN_ENABLED): reload the policies, see their state.
The API key is compared in constant time."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from gavel.api.deps import RuntimeDep, SettingsDep
from gavel.api.errors import error_response
from gavel.ops.reload import PolicyReloader
from gavel.ops.siblings import signal_siblings
from gavel.settings import Settings

router = APIRouter(prefix="/admin", tags=["admin"])


class AdminDenied(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


async def require_admin(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    if not settings.admin_enabled or not settings.admin_api_key:
        raise AdminDenied(404, "admin endpoints are disabled (GAVEL_ADMIN_ENABLED)")
    given = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ") else "")
    if not hmac.compare_digest(given.encode(), settings.admin_api_key.encode()):
        raise AdminDenied(401, "missing or wrong API key (Authorization: Bearer … or X-API-Key)")


AdminDep = Annotated[None, Depends(require_admin)]


def admin_denied_response(exc: AdminDenied) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return error_response(
        exc.status,
        "forbidden" if exc.status == 401 else "not_found",
        exc.message,
        [("authorization", exc.message)],
        headers=headers,
    )


@router.post("/reload")
async def reload_policies(_: AdminDep, request: Request, runtime: RuntimeDep) -> JSONResponse:
    reloader: PolicyReloader = request.app.state.reloader
    report = await reloader.reload("admin")
    body: dict[str, Any] = {
        "ok": report.ok,
        "generation": report.generation,
        "policies": report.policies,
        "errors": report.errors,
        "problems": [p.as_dict() for p in report.problems],
    }
    if runtime.settings.serve_workers > 1:
        # this worker alone answered; its siblings reload the same files on SIGHUP
        siblings = signal_siblings()
        body["workers_signalled"] = None if siblings is None else len(siblings)
    return JSONResponse(status_code=200 if report.ok else 422, content=body)


@router.get("/status")
async def admin_status(_: AdminDep, runtime: RuntimeDep) -> dict[str, Any]:
    reg = runtime.registry
    return {
        "generation": reg.current.generation,
        "policies": {
            pid: {"version": p.version, "digest": p.digest, "file": p.source} for pid, p in reg.current.policies.items()
        },
        "last_reload_at": reg.last_reload_at,
        "last_reload_errors": reg.last_errors,
        "last_reload_problems": [p.as_dict() for p in reg.last_problems],
        "reloads_ok": reg.reloads_ok,
        "reloads_failed": reg.reloads_failed,
    }


def check_admin_settings(settings: Settings) -> None:
    """Refuse to start with admin endpoints on and no key: an open reload endpoint is a hole."""
    if settings.admin_enabled and not settings.admin_api_key:
        raise ValueError("GAVEL_ADMIN_ENABLED is set but GAVEL_ADMIN_API_KEY is empty: refusing to start")
