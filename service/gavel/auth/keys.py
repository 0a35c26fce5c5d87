"""Per-person API keys with a role, kept as SHA-256 digests in the review tables.

A key is 32 random bytes (URL-safe base64) behind a `gvl_` prefix, shown once when created. Only
its SHA-256 is stored: a key has 256 bits of entropy, so a plain digest needs no salt or slow hash,
and the lookup by digest leaks nothing a caller could use to guess one (the final comparison is
constant-time anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal, cast

import sqlalchemy as sa

from gavel.review.db import OnStore, keys, now_ms
from gavel.store.sql import SqlVerdictStore

Role = Literal["viewer", "reviewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "reviewer", "admin")
_RANK: dict[str, int] = {role: i for i, role in enumerate(ROLES)}
_PREFIX = "gvl_"


@dataclass(frozen=True)
class Identity:
    key_id: int
    name: str
    role: Role

    def can(self, role: Role) -> bool:
        """Roles are ordered: a reviewer can do what a viewer can, an admin what a reviewer can."""
        return _RANK[self.role] >= _RANK[role]


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    role: Role
    created_ms: int
    revoked_ms: int | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyStore(OnStore):
    def __init__(self, store: SqlVerdictStore) -> None:
        self.store = store

    def create(self, name: str, role: Role) -> tuple[KeyInfo, str]:
        """A new key for `name`; the token is returned once and never stored."""
        if role not in _RANK:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        name = name.strip()
        if not name or len(name) > 128 or "\x00" in name:
            raise ValueError("name must be 1 to 128 characters, without NUL")
        token = _PREFIX + secrets.token_urlsafe(32)
        created = now_ms()
        with self.engine.begin() as conn:
            key_id = conn.execute(
                sa.insert(keys).values(name=name, role=role, key_sha256=digest(token), created_ms=created)
            ).inserted_primary_key
        assert key_id is not None
        return KeyInfo(int(key_id[0]), name, role, created, None), token

    def verify(self, token: str) -> Identity | None:
        if not token.startswith(_PREFIX) or len(token) > 128:
            return None
        wanted = digest(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(keys.c.id, keys.c.name, keys.c.role, keys.c.key_sha256).where(
                    keys.c.key_sha256 == wanted, keys.c.revoked_ms.is_(None)
                )
            ).first()
        if row is None or not hmac.compare_digest(row.key_sha256, wanted):
            return None
        return Identity(int(row.id), str(row.name), cast(Role, row.role))

    def list(self) -> list[KeyInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(keys).order_by(keys.c.id)).all()
        return [KeyInfo(int(r.id), r.name, cast(Role, r.role), int(r.created_ms), r.revoked_ms) for r in rows]

    def revoke(self, key_id: int) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(keys).where(keys.c.id == key_id, keys.c.revoked_ms.is_(None)).values(revoked_ms=now_ms())
            )
        return result.rowcount == 1
