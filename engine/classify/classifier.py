"""``engine.Classifier``: an ONNX model plus its featurizer, loaded from a model directory.

Loading checks everything (card, graph, inputs, featurizer files, device) before any data
is touched, and raises ``ModelError`` with a code (see ``engine.classify.card``). Scoring
takes whole Arrow string columns and returns NumPy arrays in input order; a null row is
reported as NaN, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from engine.classify.backend import Backend, backend_factory
from engine.classify.card import MODEL_FILE, Card, load_graph, read_card
from engine.classify.session import open_session
from engine.errors import fail
from engine.io.arrow_buffers import as_string_array

if TYPE_CHECKING:
    from engine.classify.transformer import TransformerBackend


class Classifier:
    """A loaded model. Build it with ``Classifier.load``.

    Attributes:
        name: the model's name (from the card).
        kind: ``"hashed-ngrams"``, ``"raw-text"`` or ``"transformer"``.
        labels: label names in output column order.
        score_label: the label whose probability ``score`` returns.
        threshold: the card's default decision threshold on that probability.
        card: the whole model card as a dict (provenance, licence, measured quality).
        device: ``"cpu"`` or ``"cuda"``.
    """

    def __init__(self, card: Card, backend: Backend, device: str):
        self._card = card
        self._backend = backend
        self.name = card.name
        self.kind = card.kind
        self.labels = card.labels
        self.score_label = card.score_label
        self.threshold = card.threshold
        self.card = card.data
        self.device = device

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu", threads: int = 1) -> Classifier:
        """Load and check a model directory (``model.onnx`` + ``model.json``).

        Args:
            model_dir: the directory.
            device: ``"cpu"``, or ``"cuda"`` (needs onnxruntime-gpu; a ModelError if absent).
            threads: onnxruntime intra-op threads (1 per worker process is right for
                process-parallel runs).

        Returns:
            The classifier. Raises ``ModelError`` if anything about the directory is wrong.
        """
        card = read_card(model_dir)
        factory = backend_factory(card)
        backend = factory(card, load_graph(card))
        source = backend.fixed_model or str(card.directory / MODEL_FILE)
        backend.bind(open_session(card, source, device, threads), threads)
        return cls(card, backend, device)

    def score(self, values: pa.Array | pa.ChunkedArray | Sequence[str | None],
              all_labels: bool = False) -> np.ndarray:
        """Probability of ``score_label`` per row, in input order.

        Args:
            values: a pyarrow string/large_string Array or ChunkedArray, or a list of str
                (None for nulls).
            all_labels: return every label's probability (``[n, k]``, columns in
                ``labels`` order) instead of one column.

        Returns:
            ``float32[n]`` (or ``float32[n, k]``); NaN for null rows.
        """
        column = as_string_array(values, where=f"classifier '{self.name}'")
        arrays = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        parts: list[np.ndarray] = []
        for array in arrays:
            probs = self._backend.probabilities(array)
            if array.null_count:
                probs[~np.asarray(array.is_valid())] = np.nan
            parts.append(probs)
        probs = (np.concatenate(parts) if parts
                 else np.empty((0, len(self.labels)), np.float32))
        return probs if all_labels else np.ascontiguousarray(probs[:, self._card.score_index])

    def score_around(self, texts: list[str], row: np.ndarray, start: np.ndarray,
                     end: np.ndarray) -> np.ndarray:
        """Every label's probability per text (``float32[n, k]``) from only the token
        windows around the byte spans ``start[i]:end[i]`` of text ``row[i]`` (a
        blocklist's matches); NaN for a text without a span. Transformer models only."""
        backend = self.windowed(f"classifier {self.name!r}")
        return backend.probabilities_around(texts, row, start, end)

    def windowed(self, where: str) -> TransformerBackend:
        """The transformer backend that ``score_around`` scores with, or E055 naming
        ``where``: the other kinds read a document whole, there are no windows to choose."""
        from engine.classify.transformer import TransformerBackend  # tokenizers: lazily

        if not isinstance(self._backend, TransformerBackend):
            raise fail("E055", where=where, problem=(
                f'windows = "around_hits" needs a transformer model; {self.name!r} is a '
                f"{self.kind!r} model"))
        return self._backend

    def __repr__(self) -> str:
        return (f"Classifier(name={self.name!r}, kind={self.kind!r}, labels={self.labels}, "
                f"threshold={self.threshold}, device={self.device!r})")
