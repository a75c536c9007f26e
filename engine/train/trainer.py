"""Train the native hashed n-gram model in NumPy (no fastText needed).

Features are exactly fastText's (``engine._featurize``: vocabulary words built from the
training split, word n-grams and optional character n-grams hashed into buckets, EOS). The
model is trained directly in its folded form: one weight per id and label (a single column
for two labels), document score = mean of its ids' weights, softmax/sigmoid cross-entropy,
mini-batch Adam with lazy (touched-rows-only) updates. fastText's low-rank ``O · E`` is a
special case of that table, so nothing is lost by skipping the embedding dimension.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from engine.classify.hashed import make_featurizer
from engine.errors import ModelError, UsageError
from engine.io.arrow_buffers import string_chunks

_SPACES = re.compile(rb"[ \n\r\t\v\f\x00]+")
EOS = b"</s>"


@dataclass
class TrainConfig:
    """Hyper-parameters (names follow fastText where the meaning is the same)."""

    epochs: int = 5
    lr: float = 0.5
    batch_size: int = 16
    word_ngrams: int = 2
    bucket: int = 1 << 18
    minn: int = 0
    maxn: int = 0
    min_count: int = 1
    l2: float = 0.0
    seed: int = 0


def read_labeled(paths: list[Path], text_column: str, label_column: str):
    """``(texts pa.StringArray, labels list[str])`` from Parquet or JSON-lines files."""
    tables = []
    for path in paths:
        try:
            with open(path, "rb") as fh:
                magic = fh.read(4)
            table = (pq.read_table(path, columns=[text_column, label_column])
                     if magic == b"PAR1" else pajson.read_json(path))
        except (OSError, pa.ArrowException) as err:
            raise UsageError(f"training data '{path}': cannot read as Parquet or JSON "
                             f"lines ({err})") from err
        for column in (text_column, label_column):
            if column not in table.column_names:
                raise UsageError(f"training data '{path}': no column {column!r} (columns: "
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


def build_vocab(texts: pa.Array, min_count: int, label_prefix: bytes = b"__label__"):
    """Words seen at least ``min_count`` times, most frequent first (fastText's order)."""
    counts: Counter[bytes] = Counter()
    for text in texts.to_pylist():
        tokens = [t for t in _SPACES.split(text.encode("utf-8")) if t]
        counts.update(t for t in tokens if not t.startswith(label_prefix))
    counts[EOS] += len(texts)
    words = [w for w, c in counts.items() if c >= min_count]
    words.sort(key=lambda w: (-counts[w], w))
    return words


def featurize(featurizer, texts: pa.Array):
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

    def probabilities(self, ids, offsets) -> np.ndarray:
        z = self.logits(ids, offsets)
        if self.columns == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1.0 - p1, p1], axis=1)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def update(self, ids, offsets, y: np.ndarray, lr: float) -> None:
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


def train(texts: pa.Array, y: np.ndarray, labels: list[str], config: TrainConfig):
    """Fit vocabulary and table on ``texts`` (labels as indices into ``labels``).

    Returns:
        ``(words, spec, model)``: vocabulary, featurizer spec, trained ``FoldedLinear``.
    """
    if len(labels) < 2:
        raise ModelError(f"training data has only the label(s) {labels}; need two or more",
                         code="E030")
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


def _gather(ids: np.ndarray, offsets: np.ndarray, rows: np.ndarray):
    """The ids of ``rows`` (in that order) and their offsets."""
    lengths = offsets[rows + 1] - offsets[rows]
    new_offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    index = np.repeat(offsets[rows] - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return ids[index], new_offsets
