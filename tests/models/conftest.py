"""Fixtures for the model layer: the default offline models loaded once, and a tiny Detoxify
checkpoint fabricated offline (a random 2-layer BERT in Detoxify's format, with a real tiny
tokenizer) so Detoxify's own loading code runs in CI without the internet."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.models.hub import DefaultModelHub
from service.settings import Settings

LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "you",
    "are",
    "a",
    "nice",
    "idiot",
    "hate",
    "love",
    "the",
    "day",
    "people",
    "stupid",
    "kill",
    "good",
    "bad",
    ".",
    ",",
    "!",
    "?",
]


def fabricate_detoxify_checkpoint(root: Path, model_type: str | None = None) -> tuple[Path, Path]:
    """A checkpoint dict as Detoxify's training code saves it ({"config", "state_dict"}) and the
    Hugging Face config/tokenizer directory Detoxify is pointed at with huggingface_config_path."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    config_dir = root / "tiny-bert"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(config_dir / "vocab.txt"), do_lower_case=True, model_max_length=128)
    tokenizer.save_pretrained(str(config_dir))
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=len(LABELS),
    )
    config.save_pretrained(str(config_dir))
    torch.manual_seed(7)
    model = BertForSequenceClassification(config)
    checkpoint = {
        # Detoxify reads these keys: the architecture it instantiates and the classes it names
        "config": {
            "arch": {
                "args": {
                    # the real checkpoints say "bert-base-uncased"; ours names the local directory
                    "model_type": model_type or str(config_dir),
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(LABELS),
                }
            },
            "dataset": {"args": {"classes": LABELS}},
        },
        "state_dict": model.state_dict(),
    }
    path = root / "tiny_original.ckpt"
    torch.save(checkpoint, path)
    return path, config_dir


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return fabricate_detoxify_checkpoint(tmp_path_factory.mktemp("detoxify"))


@pytest.fixture(scope="session")
def hub() -> DefaultModelHub:
    """The default offline models (profanity, minilm), loaded once."""
    return DefaultModelHub.from_settings(Settings(models="profanity,minilm"))


@pytest.fixture(scope="session")
def detoxify_hub(tiny_detoxify: tuple[Path, Path]) -> DefaultModelHub:
    checkpoint, config_dir = tiny_detoxify
    hub = DefaultModelHub.from_settings(
        Settings(models="detoxify", detoxify_checkpoint=checkpoint, detoxify_config_dir=config_dir)
    )
    assert hub.available("detoxify"), hub.failures()
    return hub
