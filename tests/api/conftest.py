from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gavel.api.app import create_app
from gavel.runtime import Runtime


@pytest.fixture(scope="module")
def client(rules_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime=rules_runtime)) as c:
        yield c
