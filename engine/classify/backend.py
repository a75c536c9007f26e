"""The one interface every model kind implements, and the registry ``Classifier`` loads through.

A model kind is a card ``kind`` (``"hashed-ngrams"``, ``"raw-text"``, ``"transformer"``)
plus one backend class in its own module (``hashed.py``, ``rawtext.py``,
``transformer.py``). ``Classifier.load`` reads the card, looks its kind up in ``BACKENDS``
(an unknown kind is a ``ModelError`` E033), reads the graph, builds the backend from card
and graph, opens the onnxruntime session and binds it. Adding a kind is one module with a
class that satisfies ``Backend`` and one line in ``BACKENDS``; nothing else dispatches on
the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa

from engine.classify.card import Card
from engine.classify.hashed import KIND as HASHED
from engine.classify.hashed import HashedBackend
from engine.classify.rawtext import KIND as RAW_TEXT
from engine.classify.rawtext import RawTextBackend
from engine.classify.transformer import KIND as TRANSFORMER
from engine.classify.transformer import TransformerBackend


@runtime_checkable
class Backend(Protocol):
    """A model kind made live: Arrow text in, label probabilities out.

    Loading (in this order; each step raises a coded ``EngineError``, a ``ModelError`` for
    anything wrong with the directory, before any data is touched):

    1. ``Backend(card, graph)``: ``card`` is the checked ``model.json`` (``read_card``),
       ``graph`` the checked ``model.onnx`` without its external data (``load_graph``).
       The constructor checks everything kind-specific: the card's own section (E033),
       the graph's inputs and output (E036, ``check_io``), featurizer files such as a
       vocabulary or tokenizer and their agreement with card and graph (E032, E037), and
       any optional package the kind needs (E005). It must not open an onnxruntime
       session.
    2. ``fixed_model``: ``None`` to run ``model.onnx`` as stored, or the serialized bytes
       of a graph the constructor repaired in memory (e.g. a raw-text graph whose
       ``StringNormalizer`` lacked a locale). The caller opens the session on that, with
       the model directory as the base of any external tensor data.
    3. ``bind(session, threads)``: attach the session; ``threads`` is the intra-op thread
       count the session was opened with, for a backend that runs work of its own
       (tokenizing) and must size it the same way.

    Scoring: ``probabilities(array)`` takes ONE Arrow array (``pa.string()`` or
    ``pa.large_string()``, possibly a slice with a non-zero offset, possibly with nulls;
    never a ``ChunkedArray``: the caller passes chunks one at a time) and returns
    ``float32[len(array), k]`` with ``k = len(card.labels)``: row ``i`` is ``array[i]``
    (input order, whatever order the backend computes in), column ``j`` the probability of
    ``card.labels[j]``. A null row is scored like ``""`` or left at any finite value: the
    caller (``Classifier.score``) overwrites every null row with NaN, so the public
    contract "NaN for nulls" holds once, for every kind. ``probabilities`` is only called
    after ``bind``; it may hold the GIL or not, but it keeps no per-call state, so one
    backend serves successive batches.
    """

    fixed_model: bytes | None

    def bind(self, session: ort.InferenceSession, threads: int) -> None:
        """Attach the onnxruntime session opened on ``model.onnx`` (or ``fixed_model``)."""
        ...

    def probabilities(self, array: pa.Array) -> np.ndarray:
        """``float32[len(array), k]`` label probabilities in input order (see the class)."""
        ...


#: How a backend is built: from the checked card and graph (step 1 above).
BackendFactory = Callable[[Card, onnx.ModelProto], Backend]

#: Card ``kind`` -> the backend that serves it. The only place a kind is dispatched on.
BACKENDS: dict[str, BackendFactory] = {
    HASHED: HashedBackend,
    RAW_TEXT: RawTextBackend,
    TRANSFORMER: TransformerBackend,
}


def backend_factory(card: Card) -> BackendFactory:
    """The backend for the card's kind; a ``ModelError`` (E033) for a kind not registered."""
    factory = BACKENDS.get(card.kind)
    if factory is None:
        raise card.fail(f"card kind {card.kind!r} is not one of {tuple(BACKENDS)}", "E033")
    return factory
