"""Train the native hashed n-gram model in NumPy (no fastText needed).

Features are exactly fastText's (``engine._featurize``: vocabulary words built from the
training data, word n-grams and optional character n-grams hashed into buckets, EOS), and
so is the model it fits: an embedding row per id (``dim`` wide, uniform in +-1/dim), a
document's hidden vector = mean of its rows, an output row per label (zeros at first),
softmax cross-entropy, plain SGD whose step ``lr`` decays linearly to 0 over the tokens
processed, per-document gradients summed over a mini-batch. The export folds it: for a
linear model ``O . mean(E[ids]) = mean((E . O^T)[ids])``, so the shipped table holds one
weight per id and label (``O1 - O0`` for two labels, a sigmoid) and the ONNX graph and
featurizer are the same as for any hashed model. The low-rank form is what fastText trains
and what makes it learn fast: a directly fitted table (Adam, tried first) underfitted rare
n-grams at fastText's epochs, 0.8 points below it on Rotten Tomatoes, up to 1.3 on a seed.

``train_model`` is the whole of ``filter-engine train`` as a library call: read labeled
files, measure (a model fitted on a seeded split, scored on the held-out rows; or the
model itself on a validation file), fit the shipped model on all of the training data,
export it with its card.
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
    if text_column == label_column:
        raise fail("E008", path=", ".join(str(p) for p in paths), problem=(
            f"the text and the labels cannot both be column {text_column!r}; name the "
            "labels with --label-column"))
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


class LowRank:
    """fastText's supervised model: ``E`` (ids x dim), ``O`` (labels x dim)."""

    def __init__(self, num_ids: int, num_labels: int, config: TrainConfig,
                 rng: np.random.Generator):
        bound = 1.0 / config.dim
        self.embeddings = rng.uniform(-bound, bound, (num_ids, config.dim)).astype(np.float32)
        self.output = np.zeros((num_labels, config.dim), np.float32)
        self.l2 = np.float32(config.l2)

    def table(self) -> np.ndarray:
        """The folded table (ids x labels): one weight per id and label."""
        return self.embeddings @ self.output.T

    def probabilities(self, ids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Softmax over labels of each document (empty documents score uniform)."""
        lengths = np.diff(offsets)
        z = np.zeros((len(lengths), len(self.output)), np.float64)
        nonempty = lengths > 0
        if ids.size:
            rows = self.table()[ids].astype(np.float64)
            z[nonempty] = (np.add.reduceat(rows, offsets[:-1][nonempty], axis=0)
                           / lengths[nonempty, None])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def update(self, ids: np.ndarray, offsets: np.ndarray, y: np.ndarray, lr: float) -> None:
        """One SGD step: each document's fastText gradient, summed over the batch."""
        lengths = np.maximum(np.diff(offsets), 1)
        hidden = np.zeros((len(lengths), self.output.shape[1]), np.float32)
        nonempty = np.diff(offsets) > 0
        if ids.size:
            hidden[nonempty] = np.add.reduceat(self.embeddings[ids], offsets[:-1][nonempty],
                                               axis=0)
        hidden /= lengths[:, None]
        z = hidden @ self.output.T
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        alpha = -p
        alpha[np.arange(len(y)), y] += 1.0
        alpha *= np.float32(lr)
        grad_hidden = alpha @ self.output
        if self.l2:
            self.output *= np.float32(1.0 - lr * self.l2)
        self.output += alpha.T @ hidden
        if not ids.size:
            return
        per_id = np.repeat(grad_hidden / lengths[:, None], np.diff(offsets), axis=0)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        first = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
        touched = sorted_ids[first]
        if self.l2:
            self.embeddings[touched] *= np.float32(1.0 - lr * self.l2)
        self.embeddings[touched] += np.add.reduceat(per_id[order], first, axis=0)


def train(
    texts: pa.Array, y: np.ndarray, labels: list[str], config: TrainConfig
) -> tuple[list[bytes], dict[str, Any], HashedFeaturizer, LowRank]:
    """Fit vocabulary and model on ``texts`` (labels as indices into ``labels``).

    Returns:
        ``(words, spec, featurizer, model)``: vocabulary, featurizer spec, the featurizer
        built from them, trained ``LowRank``.
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
    rng = np.random.default_rng(config.seed)
    model = LowRank(featurizer.num_ids, len(labels), config, rng)
    n = len(y)
    lengths = np.diff(offsets)
    total, done = config.epochs * max(int(lengths.sum()), 1), 0
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is checked below
        for _ in range(config.epochs):
            order = rng.permutation(n)
            for start in range(0, n, config.batch_size):
                rows = order[start : start + config.batch_size]
                b_ids, b_offsets = _gather(ids, offsets, rows)
                model.update(b_ids, b_offsets, y[rows], config.lr * (1 - done / total))
                done += int(lengths[rows].sum())
    if not (np.isfinite(model.output).all() and np.isfinite(model.embeddings).all()):
        raise fail("E030", source="the training data", problem=f"training diverged (weights "
                   f"overflowed) at --lr {config.lr} --batch-size {config.batch_size}; lower "
                   "either")
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
        train_rows: rows the shipped weights were trained on (all of the training data).
        valid_rows: rows the quality figures were measured on.
        validation: ``"held-out split"`` (the figures are those of a model trained with the
            same hyper-parameters on the other rows) or ``"validation file"`` (the figures
            are the shipped model's own, on data it did not train on).
        quality: the figures written to the card (``quality.held_out``).
    """

    directory: Path
    labels: list[str]
    score_label: str
    train_rows: int
    valid_rows: int
    validation: str
    quality: dict[str, Any]


def train_model(
    data: Sequence[str | Path],
    out_dir: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    score_label: str | None = None,
    name: str | None = None,
    valid: Sequence[str | Path] = (),
    valid_fraction: float = 0.2,
    threshold: float = 0.5,
    licence: str = "unknown",
    data_source: str = "",
    rebuild: str = "",
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train a hashed n-gram model on labeled files and export it with its card.

    The shipped weights are always trained on all of ``data``. Without ``valid``, quality
    is measured first: a model with the same hyper-parameters is trained on a seeded
    ``1 - valid_fraction`` share and measured on the rest; then the shipped model is trained
    on every row (held-out ones included), so it does not give up a fifth of the data for
    its card. With ``valid``, the shipped model itself is measured on those files.

    Args:
        data: Parquet or JSON-lines files.
        out_dir: the model directory to write.
        text_column, label_column: the columns to read (in ``data`` and ``valid``).
        score_label: the label whose probability the model scores (default: the last label
            in sorted order).
        name: the model's name (default: ``out_dir``'s name).
        valid: validation files; when given, ``valid_fraction`` is not used.
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
    paths, valid_paths, out = [Path(p) for p in data], [Path(p) for p in valid], Path(out_dir)
    if not valid_paths and not 0.0 < valid_fraction < 1.0:
        raise fail("E001", argument="--valid-fraction", problem=f"{valid_fraction} must be "
                   "in (0, 1)")
    for setting in ("epochs", "dim", "batch_size", "lr"):
        if not getattr(config, setting) > 0:
            raise fail("E001", argument=f"--{setting.replace('_', '-')}",
                       problem=f"{getattr(config, setting)} must be above 0")
    texts, raw_labels = read_labeled(paths, text_column, label_column)
    labels = sorted(set(raw_labels))
    scored = score_label or labels[-1]
    if scored not in labels:
        raise fail("E001", argument="--score-label", problem=f"{scored!r} is not among the "
                   f"labels {labels}")
    y = np.array([labels.index(x) for x in raw_labels], np.int64)
    index = labels.index(scored)
    if valid_paths:
        valid_texts, valid_y = read_validation(valid_paths, text_column, label_column, labels)
        words, spec, featurizer, model = train(texts, y, labels, config)
        quality, validation = on_validation_file(featurizer, model, valid_texts, valid_y,
                                                 index, threshold, valid_paths, len(y))
    else:
        quality, validation = on_held_out_split(texts, y, labels, index, threshold,
                                                valid_fraction, config)
        words, spec, featurizer, model = train(texts, y, labels, config)
    provenance = Provenance(
        description=f"Hashed word n-gram (n <= {config.word_ngrams}) linear model trained by "
                    f"filter-engine train on {data_source or 'the data below'}.",
        licence=licence,
        command=train_command(paths, out, text_column=text_column, label_column=label_column,
                              valid=valid_paths, valid_fraction=valid_fraction,
                              threshold=threshold, score_label=score_label, config=config),
        data=data_files(paths),
        details={"data_source": data_source, "rebuild": rebuild, "rows": len(y),
                 "labels": {lab: int(np.sum(y == i)) for i, lab in enumerate(labels)},
                 "trained_on": f"all {len(y)} rows of the training data",
                 "validation": validation,
                 "hyperparameters": vars(config)},
        quality={"held_out": quality},
    )
    folded = model.table()
    table = folded[:, 1] - folded[:, 0] if spec["activation"] == "binary" else folded
    save_hashed_model(out, name=name or out.name, words=words, table=table, spec=spec,
                      labels=labels, score_label=scored, threshold=threshold,
                      provenance=provenance)
    return TrainResult(out, labels, scored, len(y), int(quality["n"]), validation["method"],
                       quality)


def measure(featurizer: HashedFeaturizer, model: LowRank, texts: pa.Array,
            y: np.ndarray, index: int, threshold: float) -> dict[str, Any]:
    """The card's quality figures of ``model`` on labelled ``texts`` (``index``: the
    scored label's column)."""
    ids, offsets = featurize(featurizer, texts)
    probs = model.probabilities(ids, offsets)
    quality = report(y == index, probs[:, index], threshold)
    quality["accuracy_argmax"] = round(float(np.mean(probs.argmax(1) == y)), 4)
    return quality


def read_validation(paths: Sequence[Path], text_column: str, label_column: str,
                    labels: list[str]) -> tuple[pa.StringArray, np.ndarray]:
    """``(texts, label indices)`` of validation files; every label must be a training one."""
    texts, raw = read_labeled(paths, text_column, label_column)
    unknown = sorted(set(raw) - set(labels))
    if unknown:
        raise fail("E008", path=paths[0], problem=f"labels {unknown} are not in the training "
                   f"data (labels {labels})")
    return texts, np.array([labels.index(x) for x in raw], np.int64)


def on_validation_file(featurizer: HashedFeaturizer, model: LowRank, texts: pa.Array,
                       y: np.ndarray, index: int, threshold: float, paths: Sequence[Path],
                       train_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipped model's own figures on validation files, and the card's record of them."""
    quality = measure(featurizer, model, texts, y, index, threshold)
    quality["model"] = f"the shipped model (trained on all {train_rows} training rows)"
    return quality, {"method": "validation file", "files": data_files(paths), "rows": len(y),
                     "note": "the quality figures are the shipped model's own, measured on "
                             "the validation files, which it was not trained on"}


def on_held_out_split(texts: pa.Array, y: np.ndarray, labels: list[str], index: int,
                      threshold: float, valid_fraction: float,
                      config: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Figures of a model fitted on a seeded split and scored on the held-out rows (the
    shipped model is fitted on all rows afterwards), and the card's record of them."""
    train_rows, valid_rows = split_indices(len(y), valid_fraction, config.seed)
    _, _, featurizer, model = train(texts.take(train_rows), y[train_rows], labels, config)
    quality = measure(featurizer, model, texts.take(valid_rows), y[valid_rows], index,
                      threshold)
    quality["split"] = (f"seeded shuffle (seed {config.seed}): {len(train_rows)} train, "
                        f"{len(valid_rows)} held out")
    quality["model"] = (f"a model trained on the other {len(train_rows)} rows with the same "
                        "hyper-parameters, not the shipped weights")
    return quality, {
        "method": "held-out split", "fraction": valid_fraction, "seed": config.seed,
        "measured_model_rows": len(train_rows), "held_out_rows": len(valid_rows),
        "note": f"the quality figures are those of a model trained with the same "
                f"hyper-parameters on {len(train_rows)} rows and measured on the "
                f"{len(valid_rows)} held out; the shipped weights were then trained on all "
                f"{len(y)} rows, held-out rows included"}


def train_command(data: Sequence[Path], out: Path, *, text_column: str, label_column: str,
                  valid: Sequence[Path], valid_fraction: float, threshold: float,
                  score_label: str | None, config: TrainConfig) -> str:
    """The ``filter-engine train`` command that reproduces a model (every setting spelled
    out; files by name, as the card records them)."""
    words = ["filter-engine", "train", *(p.name for p in data), "-o", out.name,
             "--text-column", text_column, "--label-column", label_column]
    for path in valid:
        words += ["--valid", path.name]
    if not valid:
        words += ["--valid-fraction", str(valid_fraction)]
    words += ["--threshold", str(threshold)]
    if score_label:
        words += ["--score-label", score_label]
    for field in fields(config):
        words += [f"--{field.name.replace('_', '-')}", str(getattr(config, field.name))]
    return " ".join(shlex.quote(w) for w in words)
