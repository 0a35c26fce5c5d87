"""Random BERT checkpoints in Detoxify's format, for tests and benchmarks only.

Detoxify's trained weights cannot be downloaded here; a randomly initialised model of the
same shape runs Detoxify's real loading code (tests) and costs the same FLOPs (benchmarks).
Its scores mean nothing, and nothing outside tests/ and bench/ uses it.
"""

from __future__ import annotations

from pathlib import Path

DETOXIFY_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def random_detoxify_checkpoint(
    root: Path,
    words: list[str],
    *,
    vocab_size: int | None = None,
    hidden: int = 768,
    layers: int = 12,
    heads: int = 12,
    intermediate: int = 3072,
    max_positions: int = 512,
    model_type: str | None = None,
    name: str = "random_original.ckpt",
    seed: int = 7,
) -> tuple[Path, Path]:
    """Write {"config", "state_dict"} as Detoxify's training code saves it, plus the Hugging Face
    config/tokenizer directory Detoxify is pointed at; defaults are bert-base-uncased's shape."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    config_dir = root / f"{Path(name).stem}-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL + [w for w in dict.fromkeys(words) if w not in SPECIAL]
    if vocab_size is not None:
        vocab += [f"[unused{i}]" for i in range(vocab_size - len(vocab))]
    (config_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(
        vocab_file=str(config_dir / "vocab.txt"), do_lower_case=True, model_max_length=max_positions
    )
    tokenizer.save_pretrained(str(config_dir))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max_positions,
        num_labels=len(DETOXIFY_CLASSES),
    )
    config.save_pretrained(str(config_dir))
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    # the real checkpoints say "bert-base-uncased"; ours names the local directory
                    "model_type": model_type or str(config_dir),
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(DETOXIFY_CLASSES),
                }
            },
            "dataset": {"args": {"classes": DETOXIFY_CLASSES}},
        },
        "state_dict": model.state_dict(),
    }
    path = root / name
    torch.save(checkpoint, path)
    return path, config_dir
