"""Fixtures for the model layer: the default offline models loaded once, and a tiny Detoxify
checkpoint fabricated offline (a random 2-layer BERT in Detoxify's format, with a real tiny
tokenizer) so Detoxify's own loading code runs in CI without the internet."""

from __future__ import annotations

from pathlib import Path

import pytest

from gavel.models.hub import DefaultModelHub
from gavel.settings import Settings
from tests.fabricate import DETOXIFY_CLASSES, random_detoxify_checkpoint

LABELS = DETOXIFY_CLASSES
WORDS = [
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
    """A tiny (2-layer, hidden 32) random BERT in Detoxify's checkpoint format."""
    return random_detoxify_checkpoint(
        root,
        WORDS,
        hidden=32,
        layers=2,
        heads=2,
        intermediate=64,
        max_positions=128,
        model_type=model_type,
        name="tiny_original.ckpt",
    )


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
