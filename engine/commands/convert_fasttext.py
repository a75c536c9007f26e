"""``filter-engine convert-fasttext``: a fastText ``.bin`` into the native folded model.

Argument parsing only; the work is ``engine.train.fasttext.convert_fasttext``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "convert-fasttext"
HELP = "Convert a supervised fastText .bin (softmax/ova/ns loss) into an ONNX model directory."


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
                        "exit 1 unless every top label matches and |dp| <= 1e-4 (or when "
                        "the installed fastText binding is broken: the check is skipped, "
                        "saying so in the output and the card)")


def main(args: argparse.Namespace) -> int:
    from engine.train.fasttext import convert_fasttext

    result = convert_fasttext(args.model, args.out_dir, name=args.name,
                              score_label=args.score_label, threshold=args.threshold,
                              licence=args.licence, check_texts=args.check)
    print(f"wrote {result.directory} ({result.words} words, {result.buckets} buckets, "
          f"{len(result.labels)} labels, {result.activation})")
    if result.agreement is None:
        return 0
    agreement = result.agreement
    if result.check_skipped is not None:
        print(f"check skipped: {result.check_skipped}")
        return 1
    print(f"{'agrees' if result.agrees else 'DISAGREES'} with fastText on "
          f"{agreement['documents']} documents: same top label "
          f"{agreement['same_top_label']}, max |dp| {agreement['max_abs_prob_diff']:.2e}")
    return 0 if result.agrees else 1
