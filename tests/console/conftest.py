"""Fixtures for the review console: an API over the demo policy with a SQLite (or PostgreSQL)
store, and a key per role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.review.service import Review
from gavel.runtime import Runtime
from tests.stream import conftest as stream_fixtures

# the stream tests' fixtures: the demo policy, and a fresh PostgreSQL schema per test
demo_policy_dir = stream_fixtures.demo_policy_dir
demo_settings = stream_fixtures.demo_settings
demo_runtime = stream_fixtures.demo_runtime
postgres_base = stream_fixtures.postgres_base
postgres_url = stream_fixtures.postgres_url
store_url = stream_fixtures.store_url  # SQLite and PostgreSQL, the same test body


@dataclass
class Console:
    client: TestClient
    review: Review
    keys: dict[str, str]  # role or name -> key

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def evaluate(self, pid: str, text: str, author: str | None = None) -> None:
        body: dict[str, object] = {"id": pid, "text": text}
        if author:
            body["context"] = {"author_id": author}
        r = self.client.post("/evaluate", json=body)
        assert r.status_code == 200, r.text

    def flush(self) -> None:
        stages = self.client.app.state.runtime.stages  # type: ignore[attr-defined]
        asyncio.run(stages.recorder.flush())


def open_console(runtime: Runtime, store_url: str, **overrides: object) -> Iterator[Console]:
    settings = runtime.settings.model_copy(update={"store_url": store_url, **overrides})
    app = create_app(settings, runtime)
    with TestClient(app) as client:
        review = app.state.runtime.stages.review
        keys = {}
        for name, role in (
            ("viewer", "viewer"),
            ("reviewer", "reviewer"),
            ("alice", "reviewer"),
            ("bob", "reviewer"),
            ("admin", "admin"),
        ):
            keys[name] = review.keys.create(name, role)[1]
        yield Console(client, review, keys)


@pytest.fixture
def console(demo_runtime: Runtime, tmp_path: Path) -> Iterator[Console]:
    yield from open_console(demo_runtime, f"sqlite:///{tmp_path / 'gavel.db'}")
