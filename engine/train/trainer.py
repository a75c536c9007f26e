"""Train the native hashed n-gram model in NumPy (no fastText needed).

Features are exactly fastText's (``engine._featurize``: vocabulary words built from the
training split, word n-grams and optional character n-grams hashed into buckets, EOS). The
model is trained directly in its folded form: one weight per id and label (a single column
for two labels), document score = mean of its ids' weights, softmax/sigmoid cross-entropy,
mini-batch Adam with lazy (touched-rows-only) updates. fastText's low-rank ``O · E`` is a
special case of that table, so nothing is lost by skipping the embedding dimension.

``train_model`` is the whole of ``filter-engine train`` as a library call: read labeled
files, split, fit, measure on the held-out split, export the model with its card.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from engine._featurize import HashedFeaturizer
from engine.classify.hashed import make_featurizer
from engine.errors import fail
from engine.io.arrow_buffers import string_chunks
from engine.train.config import TrainConfig
from engine.train.export import Provenance, data_files, save_hashed_model
from engine.train.metrics import report

_SPACES = re.compile(rb"[ \n\r\t\v\f\x00]+")
EOS = b"</s>"


def read_labeled(paths: Sequence[str | Path], text_column: str,
                 label_column: str) -> tuple[pa.StringArray, list[str]]:
    """``(texts, labels)`` from Parquet or JSON-lines files; rows with a null text or label
    are dropped."""
    tables = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
            table = (pq.read_table(path, columns=[text_column, label_column])
                     if magic == b"PAR1" else pajson.read_json(path))
        except (OSError, pa.ArrowException) as err:
            raise fail("E008", path=path,
                       problem=f"cannot read as Parquet or JSON lines ({err})") from err
        for column in (text_column, label_column):
            if column not in table.column_names:
                raise fail("E008", path=path, problem=f"no column {column!r} (columns: "
                           f"{table.column_names}); use --text-column/--label-column")
        tables.append(table.select([text_column, label_column]))
    table = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    keep = pc.and_(pc.is_valid(table[text_column]), pc.is_valid(table[label_column]))
    table = table.filter(keep)
    texts = table[text_column].cast(pa.string()).combine_chunks()
    labels = [str(x) for x in table[label_column].to_pylist()]
    return texts, labels


def split_indices(n: int, valid_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle split: ``(train_rows, valid_rows)``, each sorted."""
    order = np.random.default_rng(seed).permutation(n)
    n_valid = int(round(n * valid_fraction))
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def build_vocab(texts: pa.Array, min_count: int,
                label_prefix: bytes = b"__label__") -> list[bytes]:
    """Words seen at least ``min_count`` times, most frequent first (fastText's order)."""
    counts: Counter[bytes] = Counter()
    for text in texts.to_pylist():
        tokens = [t for t in _SPACES.split(text.encode("utf-8")) if t]
        counts.update(t for t in tokens if not t.startswith(label_prefix))
    counts[EOS] += len(texts)
    words = [w for w, c in counts.items() if c >= min_count]
    words.sort(key=lambda w: (-counts[w], w))
    return words


def featurize(featurizer: HashedFeaturizer, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, doc_offsets)`` of every row of ``texts``."""
    (chunk,) = string_chunks(texts)
    return featurizer.featurize(chunk.offsets, chunk.data, chunk.valid)


class FoldedLinear:
    """Mean-of-weights model; ``columns`` = 1 (two labels, sigmoid) or k (softmax)."""

    def __init__(self, num_ids: int, num_labels: int, config: TrainConfig):
        self.columns = 1 if num_labels == 2 else num_labels
        self.table = np.zeros((num_ids, self.columns), np.float32)
        self.m = np.zeros_like(self.table)
        self.v = np.zeros_like(self.table)
        self.step = np.zeros(num_ids, np.int64)
        self.config = config

    def logits(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        lengths = np.maximum(np.diff(offsets), 1)[:, None]
        sums = np.zeros((len(offsets) - 1, self.columns), np.float64)
        nonempty = np.diff(offsets) > 0
        if ids.size:
            rows = self.table[ids].astype(np.float64)
            sums[nonempty] = np.add.reduceat(rows, offsets[:-1][nonempty], axis=0)
        return sums / lengths

    def probabilities(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        z = self.logits(ids, offsets)
        if self.columns == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def update(self, ids: np.ndarray, offsets: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One Adam step on a mini-batch (``y`` = label index per document)."""
        p = self.probabilities(ids, offsets)
        target = np.zeros_like(p)
        target[np.arange(len(y)), y] = 1.0
        delta = (p - target)[:, 1:] if self.columns == 1 else p - target
        lengths = np.maximum(np.diff(offsets), 1)
        per_id = np.repeat(delta / lengths[:, None], np.diff(offsets), axis=0) / len(y)
        touched, inverse = np.unique(ids, return_inverse=True)
        grad = np.zeros((len(touched), self.columns), np.float64)
        for c in range(self.columns):
            grad[:, c] = np.bincount(inverse, weights=per_id[:, c], minlength=len(touched))
        if self.config.l2:
            grad += self.config.l2 * self.table[touched]
        b1, b2 = 0.9, 0.999
        self.step[touched] += 1
        t = self.step[touched][:, None]
        self.m[touched] = b1 * self.m[touched] + (1 - b1) * grad
        self.v[touched] = b2 * self.v[touched] + (1 - b2) * grad * grad
        m_hat = self.m[touched] / (1 - b1**t)
        v_hat = self.v[touched] / (1 - b2**t)
        self.table[touched] -= (lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)


def train(
    texts: pa.Array, y: np.ndarray, labels: list[str], config: TrainConfig
) -> tuple[list[bytes], dict[str, Any], HashedFeaturizer, FoldedLinear]:
    """Fit vocabulary and table on ``texts`` (labels as indices into ``labels``).

    Returns:
        ``(words, spec, featurizer, model)``: vocabulary, featurizer spec, the featurizer
        built from them, trained ``FoldedLinear``.
    """
    if len(labels) < 2:
        raise fail("E030", source="the training data",
                   problem=f"it has only the label(s) {labels}; need two or more")
    words = build_vocab(texts, config.min_count)
    spec = {"nwords": len(words), "bucket": config.bucket, "word_ngrams": config.word_ngrams,
            "minn": config.minn, "maxn": config.maxn, "label_prefix": "__label__",
            # unlike fastText, a literal "</s>" must not hide the rest of a document
            "eos_stops_document": False,
            "activation": "binary" if len(labels) == 2 else "softmax"}
    featurizer = make_featurizer(words, spec)
    ids, offsets = featurize(featurizer, texts)
    model = FoldedLinear(featurizer.num_ids, len(labels), config)
    rng = np.random.default_rng(config.seed)
    n = len(y)
    total = config.epochs * -(-n // config.batch_size)
    done = 0
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for start in range(0, n, config.batch_size):
            rows = order[start : start + config.batch_size]
            b_ids, b_offsets = _gather(ids, offsets, rows)
            model.update(b_ids, b_offsets, y[rows], config.lr * (1 - done / total))
            done += 1
    return words, spec, featurizer, model


def _gather(ids: np.ndarray, offsets: np.ndarray,
            rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids of ``rows`` (in that order) and their offsets."""
    lengths = offsets[rows + 1] - offsets[rows]
    new_offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    index = np.repeat(offsets[rows] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return ids[index], new_offsets


@dataclass(frozen=True)
class TrainResult:
    """What ``train_model`` wrote and measured.

    Attributes:
        directory: the model directory (``model.onnx``, ``vocab.txt``, ``model.json``).
        labels: label names in output order (sorted).
        score_label: the label the model scores.
        train_rows, valid_rows: rows fitted on and held out.
        quality: the held-out figures written to the card (``quality.held_out``).
    """

    directory: Path
    labels: list[str]
    score_label: str
    train_rows: int
    valid_rows: int
    quality: dict[str, Any]


def train_model(
    data: Sequence[str | Path],
    out_dir: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    score_label: str | None = None,
    name: str | None = None,
    valid_fraction: float = 0.2,
    threshold: float = 0.5,
    licence: str = "unknown",
    data_source: str = "",
    rebuild: str = "",
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train a hashed n-gram model on labeled files and export it with its card.

    Args:
        data: Parquet or JSON-lines files.
        out_dir: the model directory to write.
        text_column, label_column: the columns to read.
        score_label: the label whose probability the model scores (default: the last label
            in sorted order).
        name: the model's name (default: ``out_dir``'s name).
        valid_fraction: held-out share (seeded split) for the card's quality figures.
        threshold: the card's decision threshold.
        licence, data_source, rebuild: provenance for the card: the data's licence, where
            it came from, how to rebuild the model from scratch (e.g. a script).
        config: hyper-parameters (default ``TrainConfig()``).

    Returns:
        A ``TrainResult``. Raises ``UsageError`` for unreadable data or bad settings,
        ``ModelError`` if the data holds fewer than two labels.
    """
    config = config if config is not None else TrainConfig()
    paths, out = [Path(p) for p in data], Path(out_dir)
    if not 0.0 < valid_fraction < 1.0:
        raise fail("E001", argument="--valid-fraction", problem=f"{valid_fraction} must be "
                   "in (0, 1)")
    texts, raw_labels = read_labeled(paths, text_column, label_column)
    labels = sorted(set(raw_labels))
    scored = score_label or labels[-1]
    if scored not in labels:
        raise fail("E001", argument="--score-label", problem=f"{scored!r} is not among the "
                   f"labels {labels}")
    y = np.array([labels.index(x) for x in raw_labels], np.int64)
    train_rows, valid_rows = split_indices(len(y), valid_fraction, config.seed)
    words, spec, featurizer, model = train(texts.take(train_rows), y[train_rows], labels,
                                           config)
    ids, offsets = featurize(featurizer, texts.take(valid_rows))
    probs = model.probabilities(ids, offsets)
    index = labels.index(scored)
    quality = report(y[valid_rows] == index, probs[:, index], threshold)
    quality["accuracy_argmax"] = round(float(np.mean(probs.argmax(1) == y[valid_rows])), 4)
    quality["split"] = (f"seeded shuffle (seed {config.seed}): {len(train_rows)} train, "
                        f"{len(valid_rows)} held out")
    provenance = Provenance(
        description=f"Hashed word n-gram (n <= {config.word_ngrams}) linear model trained by "
                    f"filter-engine train on {data_source or 'the data below'}.",
        licence=licence,
        command=train_command(paths, out, text_column=text_column, label_column=label_column,
                              valid_fraction=valid_fraction, threshold=threshold,
                              score_label=score_label, config=config),
        data=data_files(paths),
        details={"data_source": data_source, "rebuild": rebuild, "rows": len(y),
                 "labels": {lab: int(np.sum(y == i)) for i, lab in enumerate(labels)},
                 "hyperparameters": vars(config)},
        quality={"held_out": quality},
    )
    table = model.table[:, 0] if spec["activation"] == "binary" else model.table
    save_hashed_model(out, name=name or out.name, words=words, table=table, spec=spec,
                      labels=labels, score_label=scored, threshold=threshold,
                      provenance=provenance)
    return TrainResult(out, labels, scored, len(train_rows), len(valid_rows), quality)


def train_command(data: Sequence[Path], out: Path, *, text_column: str, label_column: str,
                  valid_fraction: float, threshold: float, score_label: str | None,
                  config: TrainConfig) -> str:
    """The ``filter-engine train`` command that reproduces a model (every setting spelled
    out; files by name, as the card records them)."""
    words = ["filter-engine", "train", *(p.name for p in data), "-o", out.name,
             "--text-column", text_column, "--label-column", label_column,
             "--valid-fraction", str(valid_fraction), "--threshold", str(threshold)]
    if score_label:
        words += ["--score-label", score_label]
    for field in fields(config):
        words += [f"--{field.name.replace('_', '-')}", str(getattr(config, field.name))]
    return " ".join(shlex.quote(w) for w in words)
