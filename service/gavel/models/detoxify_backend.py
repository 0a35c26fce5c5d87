"""Detoxify through its own loading code, pointed at a local checkpoint (and HF config/tokenizer
directory) instead of the internet: `GAVEL_DETOXIFY_CHECKPOINT`, `GAVEL_DETOXIFY_CONFIG_DIR`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from gavel.errors import ModelUnavailableError
from gavel.settings import Settings


class DetoxifyBackend:
    """`detoxify.Detoxify(model_type, checkpoint=..., huggingface_config_path=...)`, scored in batches.

    Labels come from the checkpoint's config (`config.dataset.args.classes`, renamed by Detoxify:
    toxic -> toxicity, ...). Detoxify reads the base model's config by the name the checkpoint
    carries (`bert-base-uncased`) even when given a local directory, so offline that name must be
    in the Hugging Face cache (HF_HOME) or be a local directory: the load error says so.
    """

    name = "detoxify"

    def __init__(self, variant: str, checkpoint: Path, config_dir: Path | None = None, device: str = "cpu") -> None:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"Detoxify checkpoint not found: {checkpoint} (GAVEL_DETOXIFY_CHECKPOINT)")
        if config_dir is not None and not (config_dir / "config.json").is_file():
            raise FileNotFoundError(f"no config.json in {config_dir} (GAVEL_DETOXIFY_CONFIG_DIR)")
        # Gavel never downloads at run time: a missing file must fail now, with a reason
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from detoxify import Detoxify

        self._torch: Any = torch
        try:
            self._model: Any = Detoxify(
                model_type=variant,
                checkpoint=str(checkpoint),
                device=device,
                huggingface_config_path=str(config_dir) if config_dir is not None else None,
            )
        except OSError as exc:
            base = _base_model_name(torch, checkpoint)
            raise OSError(
                f"Detoxify reads the base model config named in the checkpoint ('{base}') before the local one, "
                "and offline it is not in the Hugging Face cache. Once, with internet, run "
                "`HF_HOME=weights/hf python -c \"from transformers import AutoConfig as C; "
                f"C.from_pretrained('{base}')\"` and start Gavel with HF_HOME=weights/hf ({exc})"
            ) from exc
        self._model.model.eval()
        self.labels: tuple[str, ...] = tuple(self._model.class_names)
        self.device = device
        self.version = f"detoxify {metadata.version('detoxify')} {variant} ({checkpoint.name})"

    def score_batch(self, texts: Sequence[str]) -> list[dict[str, float]]:
        if not texts:
            return []
        # inference_mode, not just Detoxify's no_grad: no version counters, no autograd records
        with self._torch.inference_mode():
            raw = self._model.predict(list(texts))
        n = len(texts)
        out: list[dict[str, float]] = [{} for _ in range(n)]
        for label, values in raw.items():
            seq = values if isinstance(values, list) else [values]  # Detoxify squeezes a batch of one
            for i in range(n):
                out[i][label] = float(seq[i])
        return out


def _base_model_name(torch: Any, checkpoint: Path) -> str:
    """The Hugging Face model name a Detoxify checkpoint was trained from (only for error messages)."""
    try:
        loaded = torch.load(str(checkpoint), map_location="cpu", weights_only=False, mmap=True)
        return str(loaded["config"]["arch"]["args"]["model_type"])
    except Exception:
        return "bert-base-uncased"


def load(settings: Settings) -> DetoxifyBackend:
    if settings.detoxify_checkpoint is None:
        raise ModelUnavailableError(
            "detoxify",
            "GAVEL_DETOXIFY_CHECKPOINT is not set (Detoxify's weights are not downloaded at run time; "
            "see bench/README.md for fetching them once)",
        )
    return DetoxifyBackend(
        settings.detoxify_variant, settings.detoxify_checkpoint, settings.detoxify_config_dir, settings.detoxify_device
    )
