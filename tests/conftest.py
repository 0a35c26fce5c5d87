"""Shared fixtures: a rules-only runtime over the default policies, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gavel.runtime import Runtime, build_runtime
from gavel.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
POLICY_DIR = ROOT / "policies"


def require_services() -> bool:
    """CI sets GAVEL_REQUIRE_SERVICES=1: a missing Redis/PostgreSQL is then a failure, not a skip."""
    return os.environ.get("GAVEL_REQUIRE_SERVICES", "") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """`slow` tests are deselected by default (pyproject's addopts); GAVEL_RUN_SLOW=1, which CI's
    .ci/run sets, runs them too. An explicit `-m` on the command line is left alone."""
    if os.environ.get("GAVEL_RUN_SLOW", "") == "1" and config.option.markexpr == "not slow":
        config.option.markexpr = ""


@pytest.fixture(scope="session")
def rules_runtime() -> Runtime:
    """The default policies with the rules and the shipped hate model (hateful_conduct's clauses
    consult it) but not the generic models: abusive_behavior's model-backed clauses answer needs_review."""
    return build_runtime(Settings(policy_dir=POLICY_DIR, models="hate"))


@pytest.fixture(scope="session")
def model_runtime() -> Runtime:
    """The default policies with the default offline models (the quick start's configuration)."""
    return build_runtime(Settings(policy_dir=POLICY_DIR))
