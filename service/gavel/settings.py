"""All of Gavel's settings: one pydantic-settings class, read once (env `GAVEL_*`), passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_policy_dir() -> Path:
    """./policies where Gavel is started, else the policies/ beside the source checkout."""
    here = Path.cwd() / "policies"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "policies"


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

    # --- models -------------------------------------------------------------------------
    # Comma-separated model names to load: profanity, minilm, hate, detoxify.
    models: str = "profanity,minilm,hate"
    # The hate-speech model's directory: a fine-tuned delta over the packaged MiniLM (read offline).
    hate_model_dir: Path = Field(default_factory=default_hate_model_dir)
    hate_device: str = "cpu"
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
    store_queue_size: int = 5_000  # decisions waiting for the store (~6 KB each); beyond it dropped, loudly

    # --- ops ----------------------------------------------------------------------------
    admin_enabled: bool = False
    admin_api_key: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    log_text: bool = False

    @field_validator("detoxify_checkpoint", "detoxify_config_dir", "store_url", "admin_api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # an image sets GAVEL_DETOXIFY_CHECKPOINT="" when no weights were baked in
        return None if value == "" else value

    def model_names(self) -> list[str]:
        # deduplicated: the image appends ",detoxify" when weights are baked in, whatever MODELS said
        return list(dict.fromkeys(m.strip() for m in self.models.split(",") if m.strip()))
