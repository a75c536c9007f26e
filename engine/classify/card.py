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
* E035 external tensor data resolves outside the model directory (or is a hard link, not
  a regular file, or onnxruntime's in-memory tag)
* E036 the graph's inputs/outputs do not match the card's kind
* E037 featurizer files (vocabulary) do not match the card
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
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


def integer_setting(card: Card, key: str, value: Any, minimum: int) -> int:
    """A card setting that must be an integer ``>= minimum`` (bools are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise card.fail(f"card {key} is {value!r}; it must be an integer >= {minimum}", "E033")
    return value


def choice_setting(card: Card, key: str, value: Any, choices: tuple[str, ...]) -> str:
    """A card setting that must be one of ``choices``."""
    if value not in choices:
        raise card.fail(f"card {key} is {value!r}; it must be one of {choices}", "E033")
    return str(value)


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


#: onnxruntime's location tag for data held in memory: the offset is read as an address.
_IN_MEMORY_TAG = "_ORT_MEM_ADDR_"


def check_external_data(card: Card, model: onnx.ModelProto) -> None:
    """Every external tensor file must be a regular file inside the directory, named by a
    relative path, with a single name.

    What is checked is the file onnxruntime opens: ``location`` joined to the model
    directory (its base for a model loaded from the path and, via
    ``session.open_session``, from fixed-up bytes), symlinks followed. A file with more
    than one hard link is refused, as onnx's own checker does: its other name may be
    anywhere. Every tensor counts: initializers, sparse initializers, constants and sparse
    constants in node attributes, subgraphs, local functions and training graphs.
    """
    root = card.directory.resolve()
    seen: set[str] = set()
    for tensor in _all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        if location not in seen:
            _check_location(card, root, tensor.name, location)
            seen.add(location)


def _check_location(card: Card, root: Path, tensor: str, location: str) -> None:
    where = f"tensor '{tensor}' keeps its data in {location!r}"
    outside = (f"{where}, outside the model directory; move the file into the directory "
               "and use a relative location")
    if "\0" in location:
        raise card.fail(f"{where}, a name with a NUL byte; re-export the model", "E035")
    if _IN_MEMORY_TAG in location:
        raise card.fail(f"{where}, onnxruntime's tag for data in memory (its offset would "
                        "be read as an address); re-export the model with the data in a "
                        "file", "E035")
    if not location or Path(location).is_absolute():
        raise card.fail(outside, "E035")
    try:
        target = (root / location).resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop (RuntimeError before 3.13)
        raise card.fail(f"{where}, which cannot be resolved ({err})", "E035") from err
    if not target.is_relative_to(root):
        raise card.fail(outside, "E035")
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise card.fail(f"{where}, which does not exist; copy it into the directory",
                        "E032") from None
    except OSError as err:
        raise card.fail(f"{where}, which cannot be read ({err.strerror})", "E032") from err
    if not stat.S_ISREG(info.st_mode):
        raise card.fail(f"{where}, which is not a regular file; replace it with the data "
                        "file", "E035")
    if info.st_nlink > 1:
        raise card.fail(f"{where}, which has {info.st_nlink} hard links (another name may "
                        "be a file outside the model directory); replace it with a copy "
                        "(cp, not ln)", "E035")


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every tensor the model holds, sparse ones as values and indices (no recursion)."""
    graphs = [model.graph]
    for info in model.training_info:
        graphs += [info.initialization, info.algorithm]
    nodes = [node for function in model.functions for node in function.node]
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            yield from graph.initializer
            for sparse in graph.sparse_initializer:
                yield from (sparse.values, sparse.indices)
            nodes.extend(graph.node)
            continue
        for attr in nodes.pop().attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            sparse_tensors = [attr.sparse_tensor] if attr.HasField("sparse_tensor") else []
            for sparse in [*sparse_tensors, *attr.sparse_tensors]:
                yield from (sparse.values, sparse.indices)
            if attr.HasField("g"):
                graphs.append(attr.g)
            graphs.extend(attr.graphs)


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
