"""Counters of the stateful stages, registered on the app's registry so /metrics shows them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class StageMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.store_records = Counter(
            "gavel_store_records_total",
            "Verdict records by outcome (written, dead_lettered, dropped)",
            ["outcome"],
            registry=self.registry,
        )
        self.store_failures = Counter(
            "gavel_store_failures_total", "Failed verdict store writes", registry=self.registry
        )
        self.store_spooled = Gauge(
            "gavel_store_spooled_records", "Verdict records in the local spool, not yet in the store",
            registry=self.registry,
        )
        self.history_failures = Counter(
            "gavel_history_failures_total",
            "Failed author history calls",
            ["op"],
            registry=self.registry,
        )
        self.stream_entries = Counter(
            "gavel_stream_entries_total",
            "Stream entries by outcome (ok, dead, retry)",
            ["outcome"],
            registry=self.registry,
        )
