"""The trainer's hyper-parameters, in a module light enough for ``filter-engine --help``.

``filter-engine train`` makes one option per field (``--word-ngrams`` for ``word_ngrams``)
with the field's ``help``; the trainer and the card's provenance read the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _param(default: float, text: str) -> Any:
    """A field with a default and a one-line help (``Any``: it stands for the default)."""
    return field(default=default, metadata={"help": text})


@dataclass
class TrainConfig:
    """Hyper-parameters (names follow fastText where the meaning is the same)."""

    epochs: int = _param(5, "passes over the training data")
    lr: float = _param(0.5, "SGD step size, decayed linearly to 0 (fastText's lr)")
    dim: int = _param(16, "embedding width while training (fastText's dim; the shipped model "
                      "is folded to one weight per id and label whatever it is)")
    batch_size: int = _param(16, "documents per update (1 = fastText's per-document steps)")
    word_ngrams: int = _param(2, "longest word n-gram (1 = words only)")
    bucket: int = _param(1 << 18, "hash buckets for n-grams; the model holds vocab + bucket "
                         "floats")
    minn: int = _param(0, "shortest character n-gram (with --maxn; 0 = none)")
    maxn: int = _param(0, "longest character n-gram (0 = no character n-grams)")
    min_count: int = _param(1, "words seen fewer times in training are out of vocabulary")
    l2: float = _param(0.0, "L2 weight decay on the embeddings and output rows updated")
    seed: int = _param(0, "seed of the train/validation split and the shuffling")
