from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings
from tests.stream.conftest import DEMO_POLICY


@pytest.fixture(scope="module")
def client(rules_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=rules_runtime)) as c:
        yield c


@pytest.fixture(scope="session")
def demo_runtime(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    """The stream tests' tiny policy (threats, insults), rules only."""
    path = tmp_path_factory.mktemp("api-policies")
    (path / "demo.yaml").write_text(DEMO_POLICY, encoding="utf-8")
    return build_runtime(Settings(policy_dir=path, models=""), load_models=False)
