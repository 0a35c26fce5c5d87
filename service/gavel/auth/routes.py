"""Key management for admins: GET /keys, POST /keys (the key is in this answer only), DELETE /keys/{id}."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from gavel.api.errors import error_response
from gavel.auth.deps import AUTH_RESPONSES, AdminDep, AuthDenied, ViewerDep, review_of
from gavel.auth.keys import KeyInfo, Role
from gavel.review.service import Review

router = APIRouter(tags=["keys"])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00]+$")]
    role: Role


def _info(k: KeyInfo) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "role": k.role, "created_ms": k.created_ms, "revoked_ms": k.revoked_ms}


def _review(request: Request) -> Review:
    review = review_of(request)
    if review is None:  # the role check already refused; this keeps the type honest
        raise AuthDenied(404, "store_disabled", "no verdict store is configured")
    return review


@router.get("/whoami", responses=AUTH_RESPONSES)
async def whoami(who: ViewerDep) -> dict[str, Any]:
    """The name and role of the caller's key (the console's sign-in)."""
    return {"name": who.name, "role": who.role}


@router.get("/keys", responses=AUTH_RESPONSES)
async def list_keys(_: AdminDep, request: Request) -> dict[str, Any]:
    found = await asyncio.to_thread(_review(request).keys.list)
    return {"keys": [_info(k) for k in found]}


@router.post("/keys", status_code=201, responses=AUTH_RESPONSES)
async def create_key(who: AdminDep, body: NewKey, request: Request) -> dict[str, Any]:
    """A new key; the answer is the only place it is ever shown."""
    info, token = await asyncio.to_thread(_review(request).keys.create, body.name, body.role)
    return {**_info(info), "key": token, "created_by": who.name}


@router.delete("/keys/{key_id}", responses=AUTH_RESPONSES)
async def revoke_key(who: AdminDep, key_id: Annotated[int, Path(ge=1, lt=2**31)], request: Request) -> Any:
    if not await asyncio.to_thread(_review(request).keys.revoke, key_id):
        return error_response(404, "not_found", f"no active key {key_id}", [("key_id", "not found")])
    return {"revoked": key_id, "by": who.name}
