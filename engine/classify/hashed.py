"""The native model kind: fastText-style hashed n-grams, featurized in Cython, scored by
the folded ONNX graph (``engine.classify.folded``).

A model directory of this kind holds ``model.onnx``, ``model.json`` and ``vocab.txt``
(one vocabulary word per line, raw bytes, id = line number). The featurizer settings live
in the card's ``featurizer`` object and, identically, in the graph's metadata, so a graph
paired with the wrong vocabulary or settings is refused at load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa

from engine._featurize import HashedFeaturizer
from engine.classify.card import Card, check_io, section, sha256_of
from engine.classify.folded import ACTIVATIONS, IDS, OFFSETS, OUTPUT
from engine.io.arrow_buffers import TextChunk, string_chunks

KIND = "hashed-ngrams"
VOCAB_FILE = "vocab.txt"
META_KEY = "filter_engine.featurizer"
SPEC_KEYS = ("nwords", "bucket", "word_ngrams", "minn", "maxn", "label_prefix",
             "eos_stops_document", "activation")

#: Text per featurize+run call: big enough to amortize the session call, small enough that
#: the id buffer (about 1.5 ids per byte for word bigrams) stays in the last-level cache.
BATCH_BYTES = 1 << 20


def spec_of(card: Card) -> dict[str, Any]:
    """The featurizer spec from the card, type-checked."""
    spec = section(card, "featurizer")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise card.fail(f"card featurizer lacks {missing}", "E033")
    ints = ("nwords", "bucket", "word_ngrams", "minn", "maxn")
    if not all(isinstance(spec[k], int) and spec[k] >= 0 for k in ints):
        raise card.fail(f"card featurizer fields {ints} must be non-negative integers", "E033")
    if not isinstance(spec["eos_stops_document"], bool):
        raise card.fail("card featurizer eos_stops_document must be true or false", "E033")
    if spec["activation"] not in ACTIVATIONS:
        raise card.fail(f"card featurizer activation {spec['activation']!r} not in "
                        f"{ACTIVATIONS}", "E033")
    return {k: spec[k] for k in SPEC_KEYS}


def read_vocab(path: Path) -> list[bytes]:
    """Vocabulary words, one per line, exactly as stored (bytes)."""
    data = path.read_bytes()
    return data.split(b"\n")[:-1] if data else []


def vocab_arrays(words: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """``(offsets int64[V + 1], bytes uint8)`` for the featurizer."""
    offsets = np.zeros(len(words) + 1, np.int64)
    np.cumsum([len(w) for w in words], out=offsets[1:])
    return offsets, np.frombuffer(b"".join(words), np.uint8)


def make_featurizer(words: list[bytes], spec: dict[str, Any]) -> HashedFeaturizer:
    """The compiled featurizer for a vocabulary (id order) and featurizer spec."""
    offsets, data = vocab_arrays(words)
    return HashedFeaturizer(offsets, data, spec["bucket"], spec["word_ngrams"], spec["minn"],
                            spec["maxn"], spec["label_prefix"].encode("utf-8"),
                            spec["eos_stops_document"])


class HashedBackend:
    """Featurize a text chunk in byte-bounded batches and run the folded graph."""

    fixed_model: bytes | None = None  # the graph runs as stored

    def __init__(self, card: Card, model: onnx.ModelProto):
        spec = spec_of(card)
        check_io(card, model, {IDS: onnx.TensorProto.INT32, OFFSETS: onnx.TensorProto.INT64},
                 OUTPUT)
        meta = {p.key: p.value for p in model.metadata_props}.get(META_KEY)
        if meta is None or json.loads(meta) != spec:
            raise card.fail(f"the graph's featurizer metadata {meta} differs from the card's "
                            f"{spec}; the card and model.onnx come from different exports",
                            "E037")
        vocab_path = card.directory / VOCAB_FILE
        if not vocab_path.is_file():
            raise card.fail(f"no {VOCAB_FILE}; a hashed-ngrams model needs its vocabulary",
                            "E032")
        expected = card.data["featurizer"].get("vocab_sha256")
        if expected is not None and sha256_of(vocab_path) != expected:
            raise card.fail(f"{VOCAB_FILE} does not match the card's vocab_sha256; restore "
                            "the file that was exported with the model", "E037")
        words = read_vocab(vocab_path)
        if len(words) != spec["nwords"]:
            raise card.fail(f"{VOCAB_FILE} has {len(words)} words, the card says "
                            f"{spec['nwords']}", "E037")
        table = next((t for t in model.graph.initializer if t.name == "table"), None)
        if table is None or table.dims[0] != spec["nwords"] + spec["bucket"]:
            rows = None if table is None else table.dims[0]
            raise card.fail(f"the graph's table has {rows} rows, the featurizer makes "
                            f"{spec['nwords'] + spec['bucket']} ids", "E037")
        try:
            self.featurizer = make_featurizer(words, spec)
        except ValueError as err:
            raise card.fail(f"cannot build the featurizer ({err})", "E037") from err
        self.num_labels = len(card.labels)

    def bind(self, session: ort.InferenceSession, threads: int) -> None:
        """Attach the session (``threads`` is onnxruntime's; the featurizer runs here)."""
        self.session = session

    def batches(self, chunk: TextChunk) -> Iterator[tuple[int, int]]:
        """Row ranges of ``chunk`` holding about ``BATCH_BYTES`` of text each."""
        cuts = np.searchsorted(chunk.offsets, np.arange(chunk.offsets[0], chunk.offsets[-1],
                                                        BATCH_BYTES), side="right") - 1
        bounds = np.unique(np.concatenate([cuts.clip(0, chunk.length), [0, chunk.length]]))
        return zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)

    def featurize(self, chunk: TextChunk, begin: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, doc_offsets)`` of rows ``begin:end`` (null rows get none)."""
        return self.featurizer.featurize(chunk.offsets, chunk.data, chunk.valid, begin, end)

    def probabilities(self, array: pa.Array) -> np.ndarray:
        """``float32[rows, k]`` label probabilities for every row (null rows: ``act(0)``)."""
        (chunk,) = string_chunks(array)
        out = np.empty((chunk.length, self.num_labels), np.float32)
        for begin, end in self.batches(chunk):
            ids, offsets = self.featurize(chunk, begin, end)
            out[begin:end] = self.session.run([OUTPUT], {IDS: ids, OFFSETS: offsets})[0]
        return out
