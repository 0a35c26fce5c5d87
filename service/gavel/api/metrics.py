"""Prometheus metrics, one registry per app so that tests and reloads never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gavel.engine.results import EvaluationResult

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gavel_http_requests_total",
            "HTTP requests",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gavel_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "gavel_verdicts_total",
            "Clause verdicts",
            ["policy", "clause", "verdict"],
            registry=self.registry,
        )
        self.decisions = Counter("gavel_decisions_total", "Decisions", ["action"], registry=self.registry)
        self.posts = Counter("gavel_posts_evaluated_total", "Posts evaluated", ["source"], registry=self.registry)
        self.uncovered = Counter(
            "gavel_uncovered_language_total",
            "Policy answers for posts in a language the policy does not cover",
            ["policy", "lang"],
            registry=self.registry,
        )
        self.reloads = Counter("gavel_policy_reloads_total", "Policy reloads", ["outcome"], registry=self.registry)
        self.policy_generation = Gauge(
            "gavel_policy_generation", "Generation of the live policy set", registry=self.registry
        )
        self.model_batch_size = Histogram(
            "gavel_model_batch_size",
            "Texts per model forward pass",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.model_queue_wait = Histogram(
            "gavel_model_queue_wait_seconds",
            "Time a text waits for its batch",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_model_batch(self, model: str, size: int, wait_s: float) -> None:
        self.model_batch_size.labels(model).observe(size)
        self.model_queue_wait.labels(model).observe(wait_s)

    def record(self, result: EvaluationResult, source: str = "http") -> None:
        self.posts.labels(source).inc()
        self.decisions.labels(result.decision.action.value).inc()
        for policy in result.policies:
            if policy.coverage is not None and not policy.coverage.covered:
                self.uncovered.labels(policy.policy_id, policy.coverage.lang or "").inc()
            for clause in policy.clauses:
                self.verdicts.labels(policy.policy_id, clause.clause_id, clause.verdict.value).inc()
