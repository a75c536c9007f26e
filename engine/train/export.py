"""Model export: a model directory (graph, featurizer files, card) for each model kind.

Every ``model.json`` is written by ``write_card``, whoever makes the model (``train``,
``convert-fasttext``, the build scripts in ``models/``, tests). A card holds, in this
order: the head every kind shares (``format``, ``format_version``, ``name``, ``kind``,
``labels``, ``score_label``, ``threshold``), the kind's own settings (``featurizer``,
``raw_text`` or ``transformer``, read back by the kind's backend in
``engine.classify``), ``model_sha256``, then where the model came from (``Provenance``:
``description``, ``provenance`` with the rebuild command and the data, ``licence``,
``quality``). The card is read back with ``read_card`` as soon as it is written, so an
export never leaves a directory that ``Classifier.load`` would refuse for its card.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from engine.classify.backend import backend_factory
from engine.classify.card import (
    CARD_FILE,
    CARD_FORMAT,
    CARD_VERSION,
    MODEL_FILE,
    read_card,
    sha256_of,
)
from engine.classify.folded import folded_model
from engine.classify.hashed import KIND as HASHED
from engine.classify.hashed import META_KEY, SPEC_KEYS, VOCAB_FILE
from engine.classify.rawtext import KIND as RAW_TEXT
from engine.classify.rawtext import set_string_locale
from engine.classify.transformer import DEFAULTS as TRANSFORMER_DEFAULTS
from engine.classify.transformer import KIND as TRANSFORMER
from engine.classify.transformer import TOKENIZER_FILE
from engine.errors import ModelError

#: The card's head, the same for every kind, in the order written.
HEAD_KEYS = ("format", "format_version", "name", "kind", "labels", "score_label", "threshold")
#: Card keys that ``Provenance`` owns (written after ``model_sha256``).
PROVENANCE_KEYS = ("description", "provenance", "licence", "quality")


@dataclass(frozen=True)
class Provenance:
    """Where a model came from: the part of its card that says what it was made from and how.

    Attributes:
        description: one sentence: what the model scores and what it was made from.
        licence: the model's licence (it inherits its data's or its source model's).
        command: the command that rebuilds the model exactly.
        data: the files it was trained or converted from, ``[{"file", "sha256"}]``
            (``data_files`` makes the list); written only when given.
        details: further provenance fields, written after ``command`` and ``data`` in this
            order (data source, row counts, hyper-parameters, converter versions, ...).
        quality: measured quality (held-out metrics, agreement with a reference model);
            written only when given.
    """

    description: str
    licence: str
    command: str
    data: list[dict[str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)

    def card_fields(self) -> dict[str, Any]:
        """The card's ``description``, ``provenance``, ``licence`` and ``quality``."""
        provenance = {"command": self.command, **({"data": self.data} if self.data else {}),
                      **self.details}
        fields = {"description": self.description, "provenance": provenance,
                  "licence": self.licence}
        return {**fields, "quality": self.quality} if self.quality else fields

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> Provenance:
        """The provenance a card records (empty strings where it records none)."""
        provenance = dict(card.get("provenance") or {})
        return cls(description=card.get("description", ""), licence=card.get("licence", ""),
                   command=provenance.pop("command", ""), data=provenance.pop("data", []),
                   details=provenance, quality=dict(card.get("quality") or {}))


def data_files(paths: Iterable[str | Path]) -> list[dict[str, str]]:
    """``[{"file": name, "sha256": digest}]`` of input files, for ``Provenance.data``."""
    return [{"file": Path(p).name, "sha256": sha256_of(Path(p))} for p in paths]


def write_card(
    directory: str | Path,
    *,
    name: str,
    kind: str,
    labels: Sequence[str],
    score_label: str,
    threshold: float,
    settings: Mapping[str, Any],
    provenance: Provenance | None,
) -> Path:
    """Write ``model.json`` for the model files already in ``directory``.

    Args:
        directory: the model directory; ``model.onnx`` must be written first (its sha256
            goes into the card).
        name, kind, labels, score_label, threshold: the card's head (see ``Card``).
        settings: the kind's own card fields, e.g. ``{"featurizer": {...}}``.
        provenance: description, provenance, licence and quality; None for a throwaway
            model (tests, benchmarks) whose card records none.

    Returns:
        The card's path. Raises ``ModelError`` (E033) if the card written is not one
        ``Classifier.load`` accepts (e.g. ``score_label`` not among ``labels``).
    """
    directory = Path(directory)
    card = {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "name": name,
        "kind": kind,
        "labels": list(labels),
        "score_label": score_label,
        "threshold": float(threshold),
        **settings,
        "model_sha256": sha256_of(directory / MODEL_FILE),
        **(provenance.card_fields() if provenance is not None else {}),
    }
    path = directory / CARD_FILE
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    try:
        backend_factory(read_card(directory))
    except ModelError:
        path.unlink()
        raise
    return path


def record_quality(directory: str | Path, quality: Mapping[str, Any]) -> Path:
    """Add measured quality figures to a written card (through ``write_card``).

    Args:
        directory: a model directory with its card.
        quality: entries for the card's ``quality`` object (same keys are replaced).

    Returns:
        The card's path.
    """
    card = read_card(directory)
    provenance = Provenance.from_card(card.data)
    settings = {k: v for k, v in card.data.items()
                if k not in (*HEAD_KEYS, "model_sha256", *PROVENANCE_KEYS)}
    return write_card(card.directory, name=card.name, kind=card.kind, labels=card.labels,
                      score_label=card.score_label, threshold=card.threshold,
                      settings=settings,
                      provenance=replace(provenance, quality={**provenance.quality, **quality}))


def save_hashed_model(
    out_dir: str | Path,
    *,
    name: str,
    words: list[bytes],
    table: np.ndarray,
    spec: Mapping[str, Any],
    labels: Sequence[str],
    score_label: str,
    threshold: float,
    provenance: Provenance | None = None,
) -> Path:
    """Write ``vocab.txt``, ``model.onnx`` and ``model.json`` for a hashed n-gram model.

    Args:
        out_dir: directory to create (or fill).
        name: the model's name.
        words: vocabulary, id order.
        table: the folded table (see ``engine.classify.folded.folded_model``).
        spec: featurizer spec with every key of ``SPEC_KEYS`` (others are ignored).
        labels, score_label, threshold: as in the card.
        provenance: what the card records about the model's origin (``write_card``).

    Returns:
        The directory.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = {k: spec[k] for k in SPEC_KEYS}
    if any(b"\n" in w or not w for w in words):
        raise ValueError("vocabulary words must be non-empty and hold no newline")
    (out / VOCAB_FILE).write_bytes(b"".join(w + b"\n" for w in words))
    model = folded_model(table, spec["activation"], {META_KEY: json.dumps(spec)})
    onnx.save_model(model, str(out / MODEL_FILE))
    featurizer = {**spec, "vocab_file": VOCAB_FILE, "vocab_sha256": sha256_of(out / VOCAB_FILE),
                  "newlines": "a newline separates tokens like a space; one EOS per document"}
    write_card(out, name=name, kind=HASHED, labels=labels, score_label=score_label,
               threshold=threshold, settings={"featurizer": featurizer}, provenance=provenance)
    return out


def save_rawtext_model(
    out_dir: str | Path,
    *,
    name: str,
    model: onnx.ModelProto,
    labels: Sequence[str],
    score_label: str,
    threshold: float,
    input_name: str,
    output_name: str,
    provenance: Provenance | None = None,
) -> Path:
    """Write ``model.onnx`` (StringNormalizer locale fixed) and its ``model.json`` card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    set_string_locale(model)
    onnx.save_model(model, str(out / MODEL_FILE))
    write_card(out, name=name, kind=RAW_TEXT, labels=labels, score_label=score_label,
               threshold=threshold, settings={"raw_text": {"input": input_name,
                                                           "output": output_name}},
               provenance=provenance)
    return out


def save_transformer_model(
    out_dir: str | Path,
    *,
    name: str,
    model: onnx.ModelProto,
    tokenizer_file: str | Path,
    labels: Sequence[str],
    score_label: str,
    threshold: float,
    spec: Mapping[str, Any],
    provenance: Provenance | None = None,
) -> Path:
    """Write ``model.onnx``, ``tokenizer.json`` and the ``model.json`` card.

    ``spec`` holds the card's ``transformer`` settings over ``DEFAULTS`` (``max_chars``,
    ``max_length``, ``token_budget``, ``token_type_ids``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out / MODEL_FILE))
    (out / TOKENIZER_FILE).write_bytes(Path(tokenizer_file).read_bytes())
    settings = {**TRANSFORMER_DEFAULTS, **spec, "tokenizer_file": TOKENIZER_FILE}
    write_card(out, name=name, kind=TRANSFORMER, labels=labels, score_label=score_label,
               threshold=threshold, settings={"transformer": settings}, provenance=provenance)
    return out
