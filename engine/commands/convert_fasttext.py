"""``filter-engine convert-fasttext``: a fastText ``.bin`` into the native folded model."""

from __future__ import annotations

from pathlib import Path

from engine.classify_fasttext import fold, label_names, read_fasttext_bin
from engine.classify_hashed import save_hashed_model
from engine.errors import UsageError

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
    return 0
