"""`require_role(...)`: the FastAPI dependency that turns a request's key into an Identity, or a
401 (no key, unknown or revoked key) / 403 (a key whose role is too low).

The key comes as `Authorization: Bearer <key>` or `X-API-Key: <key>`. Keys live in the review
tables of the verdict store's database, so without GAVEL_STORE_URL the routes answer 404
`store_disabled`, like the store's own routes. While that database is down (or not yet migrated)
no key can be checked: 503 `store_unavailable` with Retry-After, saying nothing of the database's
host, port or user; /evaluate never depends on it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from sqlalchemy.exc import SQLAlchemyError

from gavel.api.schemas import ErrorBody
from gavel.auth.keys import Identity, Role
from gavel.review.service import Review
from gavel.runtime import Runtime
from gavel.store.engine import StoreError, StoreUnavailable
from gavel.store.migrate import MigrationError


class AuthDenied(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no key, or an unknown or revoked key"},
    403: {"model": ErrorBody, "description": "the key's role may not do this"},
    404: {"model": ErrorBody, "description": "no verdict store configured (keys live in it)"},
    503: {"model": ErrorBody, "description": "the verdict store (where keys live) is unreachable"},
}


def review_of(request: Request) -> Review | None:
    runtime: Runtime = request.app.state.runtime
    stages = runtime.stages
    return stages.review if stages is not None else None


def store_denied(exc: StoreError) -> AuthDenied:
    # str(exc) is Gavel's own sentence: the driver's message (host, port, user) stays in the log
    if isinstance(exc, StoreUnavailable | MigrationError):
        return AuthDenied(503, "store_unavailable", str(exc))
    return AuthDenied(500, "store_error", str(exc))


def _token(authorization: str | None, x_api_key: str | None) -> str:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return ""


def require_role(role: Role) -> Any:
    """Depends(...) that answers the caller's Identity when its key has at least `role`."""

    async def identity(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Identity:
        review = review_of(request)
        if review is None:
            raise AuthDenied(404, "store_disabled", "no verdict store is configured (set GAVEL_STORE_URL)")
        token = _token(authorization, x_api_key)
        if not token:
            raise AuthDenied(401, "unauthorized", "a key is required (Authorization: Bearer … or X-API-Key)")
        try:
            found = await asyncio.to_thread(review.keys.verify, token)
        except (SQLAlchemyError, OSError) as exc:  # the database went away after its first use
            raise store_denied(review.store.failed(exc)) from exc
        except StoreError as exc:
            raise store_denied(exc) from exc
        if found is None:
            raise AuthDenied(401, "unauthorized", "unknown or revoked key")
        if not found.can(role):
            raise AuthDenied(403, "forbidden", f"this needs the {role} role; the key of {found.name} is {found.role}")
        return found

    return Depends(identity)


ViewerDep = Annotated[Identity, require_role("viewer")]
ReviewerDep = Annotated[Identity, require_role("reviewer")]
AdminDep = Annotated[Identity, require_role("admin")]
