"""GET /policies and /policies/{id}: what is loaded, its version, digest, clauses and source."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gavel.api.deps import RuntimeDep
from gavel.engine.compiler import CompiledPolicy
from gavel.errors import UnknownPolicyError

router = APIRouter(tags=["policies"])


def _summary(cp: CompiledPolicy) -> dict[str, Any]:
    return {
        "policy_id": cp.id,
        "version": cp.version,
        "digest": cp.digest,
        "title": cp.policy.title,
        "file": cp.source,
        "clauses": [c.id for c in cp.clauses],
    }


@router.get("/policies")
async def list_policies(runtime: RuntimeDep) -> dict[str, Any]:
    pset = runtime.registry.current
    return {
        "generation": pset.generation,
        "policies": [_summary(p) for p in pset.policies.values()],
        "last_reload_errors": runtime.registry.last_errors,
        "last_reload_problems": [p.as_dict() for p in runtime.registry.last_problems],
    }


@router.get("/policies/{policy_id}")
async def get_policy(policy_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    cp = runtime.registry.current.get(policy_id)
    if cp is None:
        raise UnknownPolicyError([policy_id])
    policy = cp.policy
    return {
        **_summary(cp),
        "description": policy.description,
        "source": policy.source.model_dump(),
        "protected_categories": policy.protected_categories,
        "clauses": [
            {
                "clause_id": c.id,
                "title": c.title,
                "description": c.description,
                "thresholds": c.thresholds.model_dump(),
                "signals": sorted(c.when.signals()),
                "exceptions": c.exceptions,
            }
            for c in cp.clauses
        ],
        "signals": {
            sid: {"kind": s.kind, "description": s.description, "role": cp.roles[sid]}
            for sid, s in policy.signals.items()
        },
        "exceptions": [{"id": e.id, "effect": e.effect, "explanation": e.explanation} for e in policy.exceptions],
        "models": sorted(cp.models_needed()),
        "lexicon_terms": cp.lexicon.size,
    }
