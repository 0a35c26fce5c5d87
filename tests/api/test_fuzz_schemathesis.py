"""Property-based fuzzing of the API from its own OpenAPI schema: no input makes it answer 5xx,
and answers conform to the schema."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from gavel.api.app import create_app
from gavel.runtime import build_runtime
from gavel.settings import Settings
from tests.conftest import POLICY_DIR

app = create_app(runtime=build_runtime(Settings(policy_dir=POLICY_DIR, models=""), load_models=False))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.include(path_regex="^/(evaluate|evaluate/batch|policies.*|healthz|verdicts.*|stats)$").parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case: schemathesis.Case) -> None:
    response = case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])


@pytest.mark.parametrize("path", ["/evaluate", "/evaluate/batch"])
def test_openapi_documents_error_bodies(path: str) -> None:
    spec = app.openapi()
    responses = spec["paths"][path]["post"]["responses"]
    assert {"400", "413", "422"} <= set(responses)
