"""Reading and checking a model directory before any data is touched.

A model directory holds ``model.onnx`` and a card ``model.json`` that says what kind of
model it is, how to featurize, which labels it outputs, the default threshold and where
the model came from (every card is written by ``engine.train.export.write_card``; this
module only reads). Everything that can be wrong with a directory (missing or corrupt
files, a card that does not match the graph, external data that escapes the directory) is
found here and raised as a ``ModelError`` with a stable code:

* E032 a file is missing or unreadable
* E033 the card is malformed or incomplete (a kind with no backend: ``backend.py``)
* E034 the ONNX file is corrupt or onnxruntime rejects it
* E035 external tensor data resolves outside the model directory
* E036 the graph's inputs/outputs do not match the card's kind
* E037 featurizer files (vocabulary) do not match the card
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from engine.errors import EngineError, fail

CARD_FILE = "model.json"
MODEL_FILE = "model.onnx"
CARD_FORMAT = "filter-engine/model"
CARD_VERSION = 1


@dataclass(frozen=True)
class Card:
    """The validated fields of a model card; ``data`` keeps the whole JSON document."""

    directory: Path
    name: str
    kind: str
    labels: tuple[str, ...]
    score_label: str
    threshold: float
    data: dict[str, Any]

    @property
    def score_index(self) -> int:
        return self.labels.index(self.score_label)

    def fail(self, message: str, code: str) -> EngineError:
        """The catalogued error ``code`` (a ModelError) naming this model directory."""
        return model_error(self.directory, message, code)


def model_error(directory: Path, message: str, code: str) -> EngineError:
    return fail(code, directory=directory, problem=message)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_card(directory: str | Path) -> Card:
    """Parse and check ``model.json`` (fields common to every kind)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise model_error(directory, "not a directory; pass a directory holding "
                          f"{MODEL_FILE} and {CARD_FILE}", "E032")
    path = directory / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise model_error(directory, f"no {CARD_FILE} card; every model needs one (see "
                          "models/spam-hashed/model.json for the format)", "E032") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise model_error(directory, f"{CARD_FILE} is not readable JSON ({err}); "
                          "restore the card", "E033") from err
    if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
        raise model_error(directory, f"{CARD_FILE} is not a filter-engine model card "
                          f"(expected \"format\": \"{CARD_FORMAT}\")", "E033")
    if data.get("format_version") != CARD_VERSION:
        raise model_error(directory, f"card format_version {data.get('format_version')!r} "
                          f"is not supported (this engine reads {CARD_VERSION}); "
                          "upgrade filter-engine or re-export the model", "E033")
    kind = data.get("kind")
    if not isinstance(kind, str):  # which kinds exist is the backend registry's business
        raise model_error(directory, f"card kind {kind!r} must be a string naming the model "
                          "kind", "E033")
    labels = data.get("labels")
    if (not isinstance(labels, list) or len(labels) < 2
            or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels)):
        raise model_error(directory, "card 'labels' must list two or more distinct label "
                          "names in output order", "E033")
    score_label = data.get("score_label", labels[-1])
    if score_label not in labels:
        raise model_error(directory, f"card score_label {score_label!r} is not one of "
                          f"{labels}", "E033")
    threshold = data.get("threshold", 0.5)
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise model_error(directory, f"card threshold {threshold!r} must be a number in "
                          "[0, 1]", "E033")
    return Card(directory, str(data.get("name", directory.name)), kind, tuple(labels),
                str(score_label), float(threshold), data)


def section(card: Card, name: str) -> dict[str, Any]:
    """A required sub-object of the card (e.g. ``featurizer``)."""
    value = card.data.get(name)
    if not isinstance(value, dict):
        raise card.fail(f"card needs a '{name}' object for kind {card.kind!r}", "E033")
    return value


def load_graph(card: Card) -> onnx.ModelProto:
    """Read ``model.onnx`` (without external data) and check it is whole and self-contained."""
    path = card.directory / MODEL_FILE
    if not path.is_file():
        raise card.fail(f"no {MODEL_FILE}; the card is there but the graph is not", "E032")
    expected = card.data.get("model_sha256")
    if expected is not None and sha256_of(path) != expected:
        raise card.fail(f"{MODEL_FILE} does not match the card's model_sha256 (corrupt or "
                        "replaced file); re-export or restore the model", "E034")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError and friends, not one class
        raise card.fail(f"{MODEL_FILE} is not a readable ONNX model ({err}); re-export "
                        "it", "E034") from err
    if not model.graph.node:
        raise card.fail(f"{MODEL_FILE} holds no graph; re-export it", "E034")
    check_external_data(card, model)
    return model


def check_external_data(card: Card, model: onnx.ModelProto) -> None:
    """Every external tensor file must be a relative path that stays inside the directory."""
    root = card.directory.resolve()
    for tensor in _all_tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = (root / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(root):
            raise card.fail(f"tensor '{tensor.name}' keeps its data in {location!r}, "
                            "outside the model directory; move the file into the "
                            "directory and use a relative location", "E035")
        if not target.is_file():
            raise card.fail(f"tensor '{tensor.name}' keeps its data in {location!r}, "
                            "which does not exist; copy it into the directory", "E032")


def _all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _all_tensors(attr.g)
            for sub in attr.graphs:
                yield from _all_tensors(sub)


def check_io(card: Card, model: onnx.ModelProto, inputs: Mapping[str, int], output: str) -> None:
    """The graph must take exactly ``inputs`` (name -> ONNX elem type) and produce ``output``."""
    got = {
        i.name: i.type.tensor_type.elem_type
        for i in model.graph.input
        if i.name not in {t.name for t in model.graph.initializer}
    }
    if got != inputs:
        want = {k: onnx.TensorProto.DataType.Name(v) for k, v in inputs.items()}
        have = {k: onnx.TensorProto.DataType.Name(v) for k, v in got.items()}
        raise card.fail(f"graph inputs {have} do not match what a {card.kind!r} model "
                        f"takes {want}; re-export the graph with those inputs", "E036")
    outputs = [o.name for o in model.graph.output]
    if output not in outputs:
        raise card.fail(f"graph has no output '{output}' (outputs: {outputs}); fix the "
                        "card's output name or re-export", "E036")
