"""``filter-engine convert-fasttext``: a fastText ``.bin`` into the native folded model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.classify.card import CARD_FILE
from engine.classify.hashed import save_hashed_model
from engine.errors import UsageError
from engine.train.fasttext import fold, label_names, read_fasttext_bin

NAME = "convert-fasttext"
HELP = "Convert a supervised fastText .bin (softmax/ova/ns loss) into an ONNX model directory."


def add_arguments(parser) -> None:
    parser.add_argument("model", type=Path, help="fastText .bin file (not quantized)")
    parser.add_argument("out_dir", type=Path, help="model directory to write")
    parser.add_argument("--name", help="model name for the card (default: the .bin's stem)")
    parser.add_argument("--score-label", help="label whose probability Classifier.score "
                        "returns (default: the last label)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="default decision threshold written to the card")
    parser.add_argument("--licence", default="unknown (set --licence to the source model's)",
                        help="licence of the source model, recorded in the card")
    parser.add_argument("--check", type=Path, metavar="TEXTS",
                        help="documents, one per line: score them with the fasttext package "
                        "and the converted model, record the agreement in the card, and "
                        "exit 1 unless every top label matches and |dp| <= 1e-4")


def main(args) -> int:
    ft = read_fasttext_bin(args.model)
    labels = label_names(ft)
    score_label = args.score_label or labels[-1]
    if score_label not in labels:
        raise UsageError(f"--score-label {score_label!r} is not one of the model's labels "
                         f"{labels}")
    table, activation = fold(ft)
    spec = {"nwords": len(ft.words), "bucket": ft.args["bucket"],
            "word_ngrams": ft.args["word_ngrams"], "minn": ft.args["minn"],
            "maxn": ft.args["maxn"] if ft.args["maxn"] >= ft.args["minn"] else 0,
            "label_prefix": "__label__", "eos_stops_document": True,  # exactly as fastText
            "activation": activation}
    out = save_hashed_model(
        args.out_dir,
        name=args.name or args.model.stem,
        words=ft.words,
        table=table,
        spec=spec,
        labels=labels,
        score_label=score_label,
        threshold=args.threshold,
        extra={
            "description": f"Converted from the fastText model {args.model.name} "
                           f"(loss {ft.loss}, dim {ft.args['dim']}).",
            "provenance": {"source": str(args.model.name), "converter": "filter-engine "
                           f"convert-fasttext {args.model.name} {args.out_dir}",
                           "fasttext_args": ft.args},
            "licence": args.licence,
        },
    )
    print(f"wrote {out} ({len(ft.words)} words, {ft.args['bucket']} buckets, {len(labels)} "
          f"labels, {activation})")
    return check_against_fasttext(args.model, out, args.check) if args.check else 0


TOLERANCE = 1e-4


def check_against_fasttext(model_path: Path, out: Path, texts_path: Path) -> int:
    """Score ``texts_path`` both ways; write the agreement into the card; 0 if exact."""
    try:
        import fasttext
    except ImportError as err:
        raise UsageError("--check needs the fasttext package (pip install "
                         "fasttext-numpy2-wheel)") from err
    from engine.classify.classifier import Classifier

    texts = texts_path.read_text(encoding="utf-8").splitlines()
    clf = Classifier.load(out)
    ours = clf.score(texts, all_labels=True)
    theirs = np.zeros_like(ours, dtype=np.float64)
    names, probs = fasttext.load_model(str(model_path)).predict(texts, k=-1)
    for row, (row_names, row_probs) in enumerate(zip(names, probs, strict=True)):
        for name, p in zip(row_names, row_probs, strict=True):
            # fastText reports p + 1e-5 (it takes exp(log(p + 1e-5)))
            theirs[row, clf.labels.index(name.removeprefix("__label__"))] = p - 1e-5
    agreement = {
        "documents": len(texts),
        "same_top_label": int(np.sum(ours.argmax(1) == theirs.argmax(1))),
        "max_abs_prob_diff": float(np.abs(ours - theirs).max()) if len(texts) else 0.0,
        "checked_on": texts_path.name,
    }
    card = json.loads((out / CARD_FILE).read_text(encoding="utf-8"))
    card.setdefault("quality", {})["agreement_with_fasttext"] = agreement
    (out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    exact = (agreement["same_top_label"] == len(texts)
             and agreement["max_abs_prob_diff"] <= TOLERANCE)
    print(f"{'agrees' if exact else 'DISAGREES'} with fastText on {len(texts)} documents: "
          f"same top label {agreement['same_top_label']}, max |dp| "
          f"{agreement['max_abs_prob_diff']:.2e}")
    return 0 if exact else 1
