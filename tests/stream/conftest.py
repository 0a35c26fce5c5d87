"""Fixtures for the stream tests: real Redis and PostgreSQL (skipped with a reason when absent,
failed when GAVEL_REQUIRE_SERVICES=1), a unique key prefix per test, and a tiny policy."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import redis.asyncio as aioredis

from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings
from tests.conftest import require_services

REDIS_URL = os.environ.get("GAVEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("GAVEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

DEMO_POLICY = """\
id: demo
version: "1"
title: Demo
source: {text: "No threats."}
signals:
  harm: {kind: lexicon, terms: [kill, {term: eliminate, inflect: true}]}
  groups: {kind: lexicon, terms: [jews, muslims]}
  harm_group: {kind: proximity, anchor: harm, target: groups, window: 4}
  insult: {kind: lexicon, terms: [idiot]}
  repeat_offender: {kind: context, field: author.strikes, op: gte, value: 3}
clauses:
  - id: threats
    title: Threats
    when: {any_of: [harm_group]}
  - id: insults
    title: Insults
    when: {any_of: [insult]}
    thresholds: {violates: 0.9, needs_review: 0.4}
    actions: {violates: review, needs_review: review}
decision:
  escalate:
    - when: {signal: repeat_offender}
      from: review
      to: remove
      reason: the author has at least three recent strikes
"""


def unavailable(what: str, why: object) -> None:
    message = f"{what} is not reachable ({why}); set GAVEL_TEST_{what.upper()}_URL"
    if require_services():
        pytest.fail(f"GAVEL_REQUIRE_SERVICES=1 but {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:
        unavailable("redis", exc)
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test (or run) uses; every key under it is deleted afterwards."""
    value = f"gavel-test:{uuid.uuid4().hex[:12]}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{value}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def postgres_base() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        unavailable("postgres", exc)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_base: str) -> Iterator[str]:
    """A fresh schema per test, selected through the URL's search_path, dropped afterwards."""
    import psycopg

    schema = f"gavel_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_base else "?"
    yield f"{postgres_base}{sep}options={quote(f'-c search_path={schema}')}"
    with psycopg.connect(postgres_base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'verdicts.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture(scope="session")
def demo_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policies")
    (path / "demo.yaml").write_text(DEMO_POLICY, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def demo_settings(demo_policy_dir: Path) -> Settings:
    return Settings(policy_dir=demo_policy_dir, models="")


@pytest.fixture(scope="session")
def demo_runtime(demo_settings: Settings) -> Runtime:
    return build_runtime(demo_settings, load_models=False)
