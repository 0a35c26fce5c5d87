"""All of Gavel's settings: one pydantic-settings class, read once (env `GAVEL_*`), passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gavel.language import DEFAULT_CANDIDATES as DEFAULT_LANG_CANDIDATES


def default_policy_dir() -> Path:
    """./policies where Gavel is started, else the policies/ beside the source checkout."""
    here = Path.cwd() / "policies"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "policies"


def default_spool_dir() -> Path:
    """$XDG_STATE_HOME/gavel/spool (~/.local/state/gavel/spool): the verdict store's local spool."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "gavel" / "spool"


def default_hate_model_dir() -> Path:
    """The trained hate-speech model shipped in the repository (weights/hate-minilm)."""
    return Path(__file__).resolve().parents[2] / "weights" / "hate-minilm"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GAVEL_", extra="ignore")

    # --- policies -----------------------------------------------------------------------
    policy_dir: Path = Field(default_factory=default_policy_dir)
    max_policy_bytes: int = 2_000_000
    max_lexicon_terms: int = 100_000
    watch_policies: bool = False

    # --- request limits -----------------------------------------------------------------
    max_text_chars: int = 10_000
    max_batch_items: int = 256
    max_body_bytes: int = 4_000_000
    max_stream_line_bytes: int = 100_000
    max_context_keys: int = 256  # keys at every level together
    max_context_depth: int = 8
    max_id_chars: int = 256  # an item's `id`
    # --- work budget per request (413 naming the field past it) ----------------------------
    max_batch_chars: int = 1_000_000  # text characters of a whole /evaluate/batch
    max_evidence_per_clause: int = 5_000  # evidence items one clause of one post may answer
    max_response_bytes: int = 16_000_000  # one /evaluate(/batch) answer, one stream line

    # --- timeouts (seconds) -------------------------------------------------------------
    body_timeout_s: float = 30.0  # a JSON body not complete by then: 408 (a short body never hangs)
    stream_idle_timeout_s: float = 60.0  # /evaluate/stream: longest wait for the next chunk of the body
    keep_alive_timeout_s: int = 5  # uvicorn: an idle connection is closed after this

    # --- serving ------------------------------------------------------------------------
    # `gavel serve` processes (when --workers is not given): one per core uses every core, since
    # one process is bound by Python's GIL (rules and the model's Python share it). `gavel serve`
    # exports the count it starts, so each worker knows it has siblings (POST /admin/reload).
    serve_workers: int = Field(default=1, ge=1, le=64)

    # --- language -----------------------------------------------------------------------
    lang_detect: bool = True  # detect each post's language (py3langid, shipped in the wheel)
    lang_min_letters: int = 15  # fewer letters than this: undetermined, taken as the policy's language
    lang_min_confidence: float = 0.5  # a detection under this: undetermined, likewise
    # the languages the detector chooses among (comma-separated ISO 639-1; "" for all 140 it knows)
    lang_candidates: str = DEFAULT_LANG_CANDIDATES

    # --- models -------------------------------------------------------------------------
    # Comma-separated model names to load: profanity, minilm, hate, detoxify.
    models: str = "profanity,minilm,hate"
    # The hate-speech model's directory: a fine-tuned delta over the packaged MiniLM (read offline).
    hate_model_dir: Path = Field(default_factory=default_hate_model_dir)
    hate_device: str = "cpu"
    # How the int8 bottom multiplies: "int_mm" (fast with VNNI/AMX), "float" (exact float32 GEMMs,
    # fast on AVX2-only CPUs) or "auto" (timed once at start). Same answers; only speed differs.
    hate_int8_kernel: Literal["auto", "int_mm", "float"] = "auto"
    detoxify_variant: str = "original"
    detoxify_checkpoint: Path | None = None
    detoxify_config_dir: Path | None = None
    detoxify_device: str = "cpu"
    model_max_batch: int = 32
    model_max_wait_ms: float = 5.0
    model_queue_size: int = 4096
    model_window_chars: int = 400
    model_window_overlap_chars: int = 100
    torch_threads: int = 0  # 0: leave torch's default

    # --- stream and stores --------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    input_stream: str = "gavel:posts"
    output_stream: str = "gavel:verdicts"
    dead_stream: str = "gavel:dead"
    consumer_group: str = "gavel"
    consumer_name: str | None = None
    worker_batch: int = 64
    worker_block_ms: int = 1_000
    reclaim_idle_ms: int = 30_000
    max_deliveries: int = 3
    history_backend: str = "memory"  # memory | redis
    store_url: str | None = None  # sqlite:///path, postgresql://...; None: no verdict store
    store_text: str = "hash"  # hash | text | none
    stream_batch: int = 64  # NDJSON lines per evaluate_many call
    stream_inflight: int = 2  # NDJSON batches evaluated at once (lets the model micro-batcher fill)
    history_prefix: str = "gavel:"  # Redis key prefix of the author history
    history_retention_s: int = 30 * 86_400  # strikes and per-clause counts older than this expire
    history_max_events: int = 1_000  # newest violating posts kept per author
    store_batch: int = 256  # verdict records per store transaction
    store_queue_size: int = 5_000  # decisions waiting for the spool (~6 KB each); beyond it dropped, loudly
    store_required: bool = False  # true: refuse to start while the store is unreachable; false: start, spool
    # records wait here while the store database is down ("": no spool, records dropped during an outage)
    store_spool_dir: Path | None = Field(default_factory=default_spool_dir)
    store_spool_max_records: int = 200_000  # spooled records kept (~6 KB each on disk); beyond it dropped, loudly
    max_author_id_bytes: int = 256  # longer context.author_id: refused (422) and never kept in the history
    history_max_authors: int = 100_000  # authors held by the in-memory history; least recently seen evicted

    # --- review console (needs store_url: its tables live in the verdict store's database) ---
    review_enabled: bool = True  # queue posts whose decision is review, and serve /review and /console
    review_sample_allow: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # share of allow queued (quality checks)
    review_sample_remove: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0  # share of remove queued (quality checks)
    review_lease_s: Annotated[int, Field(ge=10)] = 600  # a claim expires; the item returns
    review_text_retention_s: Annotated[int, Field(ge=0)] = 30 * 86_400  # `gavel review purge`

    # --- the worker process -------------------------------------------------------------
    worker_http_host: str = "0.0.0.0"  # probes and Prometheus reach it from outside the pod
    worker_http_port: int = 9000  # /metrics, /healthz, /readyz of `gavel worker`; 0: any free port; -1: none
    worker_heartbeat_stale_s: float = 60.0  # /healthz answers 503 when the loop has not beaten for this long
    redis_retry_max_s: float = 10.0  # longest wait between two reconnection attempts

    # --- ops ----------------------------------------------------------------------------
    admin_enabled: bool = False
    admin_api_key: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    log_text: bool = False

    @field_validator(
        "detoxify_checkpoint", "detoxify_config_dir", "store_url", "admin_api_key", "store_spool_dir", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # an image sets GAVEL_DETOXIFY_CHECKPOINT="" when no weights were baked in
        return None if value == "" else value

    def model_names(self) -> list[str]:
        # deduplicated: the image appends ",detoxify" when weights are baked in, whatever MODELS said
        return list(dict.fromkeys(m.strip() for m in self.models.split(",") if m.strip()))
