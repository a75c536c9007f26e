"""Fuzz targets, one per kernel entry: each takes bytes and must end in a result or in the
engine's own coded error, never in a crash, a hang or another exception.

Run one for a while with atheris (``pip install atheris``)::

    python -m tests.fuzz.run matcher_offsets -max_total_time=600

``tests/test_fuzz.py`` runs every target for a few thousand seeded inputs in CI.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.errors import EngineError, MatcherStateError, SchemaError, ShardError, TextError

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = ["sarin", "nerve agent", "cobalt strike", "ǅ", "İ", "ﬁle", "σ", "ab", "a"]


@cache
def _matcher():
    from engine import Matcher

    return Matcher(PATTERNS)


@cache
def _classifier():
    from engine import Classifier

    return Classifier.load(ROOT / "models" / "spam-hashed")


ROWS = ["sarin is a nerve agent", "", "cobalt strike", "İstanbul ǅ"]
_OFFSETS = np.cumsum([0] + [len(r.encode()) for r in ROWS]).astype("<i4").tobytes()


@cache
def _ipc_template() -> bytes:
    sink = io.BytesIO()
    batch = pa.record_batch({"text": pa.array(ROWS, pa.string()),
                             "id": pa.array(range(len(ROWS)), pa.int64())})
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue()


def _raw_batch(data: bytes) -> pa.RecordBatch | None:
    """A string array whose offsets come straight from the fuzzer, as an Arrow IPC stream
    with damaged offsets delivers them (reading IPC does not validate them): the fuzzer's
    bytes overwrite the offsets buffer; what is past it overwrites the text bytes."""
    blob = bytearray(_ipc_template())
    at = blob.index(_OFFSETS)
    patch = data[:len(_OFFSETS)].ljust(len(_OFFSETS), b"\0") if data else _OFFSETS
    blob[at:at + len(patch)] = patch
    rest = data[len(_OFFSETS):]
    end = at + len(_OFFSETS)
    blob[end:end + len(rest)] = rest[:len(blob) - end]
    try:
        return pa.ipc.open_stream(bytes(blob)).read_next_batch()
    except (pa.ArrowInvalid, OSError):
        return None


def _raw_string_array(data: bytes) -> pa.Array | None:
    batch = _raw_batch(data)
    return None if batch is None else batch.column(0)


def matcher_offsets(data: bytes) -> None:
    """Matcher.count/scan/spans over arbitrary offsets and bytes."""
    arr = _raw_string_array(data)
    if arr is None:
        return
    m = _matcher()
    with contextlib.suppress(SchemaError, TextError):
        m.count(arr)
        m.spans(arr)
    with contextlib.suppress(SchemaError):
        m.scan(arr)


def matcher_text(data: bytes) -> None:
    """Valid offsets, arbitrary bytes (invalid UTF-8 too), every option combination."""
    from engine import Matcher

    text = data.decode("utf-8", "replace")
    rows = [text, text[::-1], None, text.upper()]
    arr = pa.array(rows, pa.large_string())
    for normalize in (None, "nfkc"):
        m = Matcher(PATTERNS, normalize=normalize) if normalize else _matcher()
        m.scan(arr)
        m.find(text)
    raw = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(
        struct.pack("<ii", 0, len(data))), pa.py_buffer(data)])
    _matcher().scan(raw)  # invalid UTF-8 is reported per row, never raised


def featurizer(data: bytes) -> None:
    """The hashed classifier (Cython featurizer + ONNX) over arbitrary offsets and bytes."""
    arr = _raw_string_array(data)
    if arr is None:
        return
    try:
        scores = _classifier().score(arr)
    except (SchemaError, TextError):
        return
    assert len(scores) == len(arr)


@cache
def _filter():
    from engine import Filter, FilterSpec

    return Filter(FilterSpec.from_toml(ROOT / "models" / "default-filter.toml"))


def filter_batch(data: bytes) -> None:
    """The whole filter over a batch with damaged offsets: every row is kept, removed or
    unreadable, or the batch is refused with a coded error."""
    batch = _raw_batch(data)
    if batch is None:
        return
    result = _filter().apply(batch)
    rows = sum(t.num_rows for t in (result.kept, result.removed) if t is not None)
    assert rows + len(result.unreadable) == batch.num_rows


def jsonl_reader(data: bytes) -> None:
    """The JSONL block reader: every line ends up in a batch or in the unreadable list."""
    from engine.io.readers import ShardReader

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "shard.jsonl")
        with open(path, "wb") as fh:
            fh.write(data)
        reader = ShardReader(path, "text", batch_rows=7)
        try:
            for batch in reader:
                assert pa.types.is_string(batch.schema.field("text").type) or \
                    pa.types.is_large_string(batch.schema.field("text").type)
        except ShardError:
            return


@cache
def _saved_matcher() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.fem")
        _matcher().save(path)
        with open(path, "rb") as fh:
            return fh.read()


def fem_loader(data: bytes) -> None:
    """A saved matcher with fuzzer bytes written over part of it: load refuses or works."""
    from engine import Matcher

    blob = bytearray(_saved_matcher())
    if len(data) >= 4:
        at = int.from_bytes(data[:4], "little") % len(blob)
        patch = data[4:]
        blob[at:at + len(patch)] = patch
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.fem")
        with open(path, "wb") as fh:
            fh.write(bytes(blob))
        try:
            m = Matcher.load(path)
        except MatcherStateError:
            return
        m.count(pa.array(["sarin and nerve agent", "cobalt strike", None]))


TARGETS = {f.__name__: f for f in
           (matcher_offsets, matcher_text, featurizer, filter_batch, jsonl_reader,
            fem_loader)}


def check(name: str, data: bytes) -> None:
    """Run one target; an exception other than the engine's own coded errors is a bug."""
    with contextlib.suppress(EngineError):
        TARGETS[name](data)


def seeds(name: str, count: int, seed: int = 0) -> list[bytes]:
    """Seeded inputs for the short CI run: random bytes, plus structured cases per target."""
    rng = np.random.default_rng(seed)
    out = [b"", b"\0", b"\xff" * 9]
    if name == "jsonl_reader":
        good = b'{"text": "sarin"}\n{"text": 5}\n\x0b\n{"text": "x", "id": 1}\n'
        out += [good, good[:17], good * 3 + b"{", b"\n\n\x0c\n", b'{"text": "\xff"}\n']
    for _ in range(count - len(out)):
        n = int(rng.integers(0, 200))
        out.append(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    return out

