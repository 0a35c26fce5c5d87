"""A tiny Detoxify checkpoint fabricated offline: a random 2-layer BERT in Detoxify's format,
with a real (tiny) tokenizer, so Detoxify's own loading code runs in CI without the internet."""

from __future__ import annotations

from pathlib import Path

import pytest

LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "you", "are", "a", "nice", "idiot", "hate", "love", "the",
         "day", "people", "stupid", "kill", "good", "bad", ".", ",", "!", "?"]


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    root = tmp_path_factory.mktemp("detoxify")
    config_dir = root / "tiny-bert"
    config_dir.mkdir()
    (config_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(config_dir / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(str(config_dir))
    config = BertConfig(
        vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, num_labels=len(LABELS),
    )
    config.save_pretrained(str(config_dir))
    torch.manual_seed(7)
    model = BertForSequenceClassification(config)
    checkpoint = {
        # Detoxify reads these keys: the arch it instantiates and the classes it names
        "config": {
            "arch": {
                "args": {
                    "model_type": str(config_dir),
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
