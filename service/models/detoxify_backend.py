"""Detoxify through its own loading code, pointed at a local checkpoint (and HF config/tokenizer
directory) instead of the internet: `GAVEL_DETOXIFY_CHECKPOINT`, `GAVEL_DETOXIFY_CONFIG_DIR`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any


class DetoxifyBackend:
    name = "detoxify"

    def __init__(self, variant: str, checkpoint: Path, config_dir: Path | None = None, device: str = "cpu") -> None:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"Detoxify checkpoint not found: {checkpoint}")
        if config_dir is not None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from detoxify import Detoxify

        self._torch: Any = torch
        self._model: Any = Detoxify(
            model_type=variant,
            checkpoint=str(checkpoint),
            device=device,
            huggingface_config_path=str(config_dir) if config_dir is not None else None,
        )
        self._model.model.eval()
        self.labels: tuple[str, ...] = tuple(self._model.class_names)
        self.version = f"detoxify {metadata.version('detoxify')} {variant} ({checkpoint.name})"

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        with self._torch.inference_mode():
            raw = self._model.predict(list(texts))
        n = len(texts)
        out: list[dict[str, float]] = [{} for _ in range(n)]
        for label, values in raw.items():
            seq = values if isinstance(values, list) else [values]
            for i in range(n):
                out[i][label] = float(seq[i])
        return out
