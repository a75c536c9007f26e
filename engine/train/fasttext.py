"""Read fastText's ``.bin`` model format directly and fold it into the native model kind.

Layout (fastText 0.9.x, ``FastText::saveModel``): magic int32 793712314, version int32
(12); ``Args`` (12 int32s and a double); ``Dictionary`` (size, nwords, nlabels as int32;
ntokens, pruneidx_size as int64; per entry a NUL-terminated word, int64 count, int8 type;
then the prune index); a quantization flag byte and the input matrix (int64 rows, int64
cols, float32 data); the same for the output matrix. Only plain (not quantized)
supervised models with softmax, one-vs-all or negative-sampling loss can be folded exactly;
anything else is refused with E039.

``convert_fasttext`` is the whole of ``filter-engine convert-fasttext`` as a library call:
read, fold, export with a card, and optionally measure the agreement with the fasttext
package on sample texts. A broken fastText binding (uniform or constant probabilities, or
errors, as fasttext-wheel gives under NumPy 2) is detected first: the check is then
recorded as skipped, with the reason, never as a disagreement (``binding_fault``).
"""

from __future__ import annotations

import mmap
import shlex
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.classify.classifier import Classifier
from engine.errors import EngineError, fail
from engine.train.export import Provenance, data_files, record_quality, save_hashed_model

MAGIC = 793712314
VERSIONS = (11, 12)
ARG_FIELDS = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model",
              "bucket", "minn", "maxn", "lr_update_rate")
LOSSES = {1: "hs", 2: "ns", 3: "softmax", 4: "ova"}
SUPERVISED = 3
LABEL_PREFIX = "__label__"
FOLD_ROWS = 1 << 16
#: The largest ``|p - p_fastText|`` a checked conversion may show (with the same top labels).
TOLERANCE = 1e-4


@dataclass
class FastTextModel:
    """The parts of a fastText supervised model that define its predictions."""

    args: dict[str, Any]
    words: list[bytes]
    labels: list[bytes]
    input: np.ndarray  # float32[nwords + bucket, dim]
    output: np.ndarray  # float32[nlabels, dim]
    path: Path  # the .bin it was read from, for error messages

    @property
    def loss(self) -> str:
        return LOSSES.get(self.args["loss"], str(self.args["loss"]))


def _fail(path: Path, message: str) -> EngineError:
    return fail("E039", path=path, problem=message)


class _Reader:
    def __init__(self, path: Path, data: mmap.mmap):
        self.path, self.data, self.pos = path, data, 0

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise _fail(self.path, f"file ends at byte {len(self.data)} inside the model "
                        "(truncated download?); get the complete .bin")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def cstring(self) -> bytes:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise _fail(self.path, "dictionary entry without terminator; corrupt file")
        word = self.data[self.pos : end]
        self.pos = end + 1
        return word

    def matrix(self, what: str) -> np.ndarray:
        (quantized,) = self.take("<?")
        if quantized:
            raise _fail(self.path, f"the {what} matrix is quantized (a .ftz model); "
                        "convert the unquantized .bin instead")
        rows, cols = self.take("<qq")
        count = rows * cols
        if rows < 0 or cols <= 0 or self.pos + 4 * count > len(self.data):
            raise _fail(self.path, f"{what} matrix {rows}x{cols} does not fit in the file; "
                        "corrupt or truncated")
        matrix = np.frombuffer(self.data, "<f4", count, self.pos).reshape(rows, cols)
        self.pos += 4 * count
        return matrix


def read_fasttext_bin(path: str | Path) -> FastTextModel:
    """Parse a supervised fastText ``.bin``; E039 for anything that cannot be folded."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            # memory-mapped: real models run to gigabytes, and the matrices are read in place
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as err:  # ValueError: an empty file cannot be mapped
        raise _fail(path, f"cannot read ({getattr(err, 'strerror', None) or err})") from err
    r = _Reader(path, data)
    magic, version = r.take("<ii")
    if magic != MAGIC:
        raise _fail(path, "not a fastText .bin (wrong magic number)")
    if version not in VERSIONS:
        raise _fail(path, f"format version {version} is not supported ({VERSIONS})")
    args = dict(zip(ARG_FIELDS, r.take("<12i"), strict=True))
    (args["t"],) = r.take("<d")
    if args["model"] != SUPERVISED:
        raise _fail(path, "not a supervised model (cbow/skipgram embeddings have no "
                    "labels to score)")
    if args["loss"] not in (2, 3, 4):
        raise _fail(path, f"loss '{LOSSES.get(args['loss'], args['loss'])}' is not supported; "
                    "only softmax, ova (one-vs-all) and ns fold exactly (retrain with "
                    "-loss softmax)")
    size, nwords, nlabels = r.take("<iii")
    _ntokens, prune_size = r.take("<qq")
    words: list[bytes] = []
    labels: list[bytes] = []
    for _ in range(size):
        word = r.cstring()
        _count, kind = r.take("<qb")
        (words if kind == 0 else labels).append(word)
    if len(words) != nwords or len(labels) != nlabels:
        raise _fail(path, f"dictionary holds {len(words)} words and {len(labels)} labels, "
                    f"header says {nwords} and {nlabels}; corrupt file")
    if prune_size >= 0:
        raise _fail(path, "pruned dictionary (a quantized model); convert the .bin "
                    "before quantization")
    matrix_in = r.matrix("input")
    matrix_out = r.matrix("output")
    if matrix_in.shape != (nwords + args["bucket"], args["dim"]):
        raise _fail(path, f"input matrix is {matrix_in.shape}, expected "
                    f"({nwords + args['bucket']}, {args['dim']}); corrupt file")
    if matrix_out.shape != (nlabels, args["dim"]):
        raise _fail(path, f"output matrix is {matrix_out.shape}, expected "
                    f"({nlabels}, {args['dim']}); corrupt file")
    return FastTextModel(args, words, labels, matrix_in, matrix_out, path)


def fold(model: FastTextModel) -> tuple[np.ndarray, str]:
    """The folded table and activation that reproduce the model's probabilities.

    Two softmax labels fold to one float per id (``E (O₁ − O₀)``, then a sigmoid); more
    labels to ``E Oᵀ`` with softmax; ova/ns to ``E Oᵀ`` with one sigmoid per label, read
    from fastText's own 512-step sigmoid table so the probabilities match it exactly.
    """
    o = model.output.astype(np.float64)
    if model.loss == "softmax" and len(model.labels) == 2:
        weights, activation = (o[1] - o[0])[:, None], "binary"
    else:
        weights, activation = o.T, "softmax" if model.loss == "softmax" else "ova"
    table = np.empty((model.input.shape[0], weights.shape[1]), np.float32)
    for start in range(0, len(table), FOLD_ROWS):  # float64 products, a block at a time
        block = model.input[start : start + FOLD_ROWS].astype(np.float64)
        table[start : start + FOLD_ROWS] = block @ weights
    if not np.isfinite(table).all():
        raise _fail(model.path, "weights hold NaN or infinity (training diverged); retrain "
                    "with a lower -lr")
    return (table[:, 0] if activation == "binary" else table), activation


def label_names(model: FastTextModel) -> list[str]:
    """Labels without fastText's ``__label__`` prefix, in output-row order."""
    return [w.decode("utf-8", "replace").removeprefix(LABEL_PREFIX) for w in model.labels]


@dataclass(frozen=True)
class Conversion:
    """What ``convert_fasttext`` wrote and, when checked, how well it agrees with fastText.

    Attributes:
        directory: the model directory written.
        words, buckets: vocabulary size and hash buckets of the featurizer.
        labels: label names in output order.
        activation: how the folded table becomes probabilities (``folded.ACTIVATIONS``).
        agreement: ``None``, or what the card records in
            ``quality.agreement_with_fasttext``: ``documents``, ``checked_on`` and either
            the figures ``same_top_label`` and ``max_abs_prob_diff``, or ``skipped``: why
            the installed fastText binding could not be trusted to check against (see
            ``binding_fault``).
    """

    directory: Path
    words: int
    buckets: int
    labels: list[str]
    activation: str
    agreement: dict[str, Any] | None = None

    @property
    def agrees(self) -> bool:
        """Checked, every top label the same and every probability within ``TOLERANCE``."""
        return (self.agreement is not None and self.check_skipped is None
                and self.agreement["same_top_label"] == self.agreement["documents"]
                and self.agreement["max_abs_prob_diff"] <= TOLERANCE)

    @property
    def check_skipped(self) -> str | None:
        """Why the check was not made (a broken fastText binding), else ``None``."""
        return None if self.agreement is None else self.agreement.get("skipped")


def convert_fasttext(
    bin_path: str | Path,
    out_dir: str | Path,
    *,
    name: str | None = None,
    score_label: str | None = None,
    threshold: float = 0.5,
    licence: str = "unknown",
    check_texts: str | Path | None = None,
) -> Conversion:
    """Convert a supervised fastText ``.bin`` into a hashed n-gram model directory.

    Args:
        bin_path: the fastText model (plain, not quantized; softmax, ova or ns loss).
        out_dir: the model directory to write.
        name: the model's name (default: the ``.bin``'s stem).
        score_label: the label ``Classifier.score`` returns (default: the last label).
        threshold: the card's decision threshold.
        licence: the source model's licence, recorded in the card.
        check_texts: a text file, one document per line: score it with the fasttext
            package and with the converted model and record the agreement in the card
            (needs the ``fasttext`` package).

    Returns:
        A ``Conversion``. Raises ``ModelError`` (E039) for a model that cannot be folded
        exactly, ``UsageError`` for a ``score_label`` the model does not have.
    """
    bin_path, out = Path(bin_path), Path(out_dir)
    ft = read_fasttext_bin(bin_path)
    labels = label_names(ft)
    scored = score_label or labels[-1]
    if scored not in labels:
        raise fail("E001", argument="--score-label", problem=f"{scored!r} is not one of the "
                   f"model's labels {labels}")
    table, activation = fold(ft)
    spec = {"nwords": len(ft.words), "bucket": ft.args["bucket"],
            "word_ngrams": ft.args["word_ngrams"], "minn": ft.args["minn"],
            "maxn": ft.args["maxn"] if ft.args["maxn"] >= ft.args["minn"] else 0,
            "label_prefix": LABEL_PREFIX, "eos_stops_document": True,  # exactly as fastText
            "activation": activation}
    words = ["filter-engine", "convert-fasttext", bin_path.name, out.name]
    if score_label:
        words += ["--score-label", score_label]
    words += ["--threshold", str(threshold)]
    if check_texts is not None:
        words += ["--check", Path(check_texts).name]
    provenance = Provenance(
        description=f"Converted from the fastText model {bin_path.name} (loss {ft.loss}, "
                    f"dim {ft.args['dim']}).",
        licence=licence,
        command=" ".join(shlex.quote(w) for w in words),
        data=data_files([bin_path]),
        details={"fasttext_args": ft.args},
    )
    save_hashed_model(out, name=name or bin_path.stem, words=ft.words, table=table, spec=spec,
                      labels=labels, score_label=scored, threshold=threshold,
                      provenance=provenance)
    agreement = None
    if check_texts is not None:
        agreement = agreement_with_fasttext(bin_path, out, Path(check_texts))
        record_quality(out, {"agreement_with_fasttext": agreement})
    return Conversion(out, len(ft.words), ft.args["bucket"], labels, activation, agreement)


def agreement_with_fasttext(bin_path: Path, model_dir: Path, texts_path: Path) -> dict[str, Any]:
    """Score ``texts_path`` (one document per line) with the fasttext package and with the
    converted model in ``model_dir``; the agreement figures (see ``Conversion``), or
    ``skipped`` with the reason when the binding itself is broken (``binding_fault``)."""
    try:
        import fasttext
    except ImportError as err:
        raise fail("E005", feature="checking against fastText (--check)", package="fasttext",
                   install="fasttext-numpy2-wheel") from err
    texts = texts_path.read_text(encoding="utf-8").splitlines()
    clf = Classifier.load(model_dir)
    ours = clf.score(texts, all_labels=True)
    theirs = np.zeros_like(ours, dtype=np.float64)
    head = {"documents": len(texts), "checked_on": texts_path.name}
    try:
        names, probs = fasttext.load_model(str(bin_path)).predict(texts, k=-1)
        for row, (row_names, row_probs) in enumerate(zip(names, probs, strict=True)):
            for label, p in zip(row_names, row_probs, strict=True):
                # fastText reports p + 1e-5 (it takes exp(log(p + 1e-5)))
                theirs[row, clf.labels.index(label.removeprefix(LABEL_PREFIX))] = p - 1e-5
    except Exception as err:  # a broken binding fails in its own ways (NumPy 2: ValueError)
        return {**head, "skipped": f"the installed fastText binding fails to predict "
                f"({type(err).__name__}: {err}); {_BINDING_ADVICE}"}
    fault = binding_fault(texts, ours, theirs)
    if fault is not None:
        return {**head, "skipped": fault}
    return {
        "documents": len(texts),
        "same_top_label": int(np.sum(ours.argmax(1) == theirs.argmax(1))),
        "max_abs_prob_diff": float(np.abs(ours - theirs).max()) if len(texts) else 0.0,
        "checked_on": texts_path.name,
    }


_BINDING_ADVICE = ("a fault of the binding (fasttext-wheel under NumPy 2 is known for it), not "
                   "of the converted model; install fasttext-numpy2-wheel and rerun --check")


def binding_fault(texts: list[str], ours: np.ndarray, theirs: np.ndarray) -> str | None:
    """Why the fastText binding's answers cannot be checked against, or ``None``.

    A broken binding (fasttext-wheel built for NumPy 1, run under NumPy 2) gives every label
    the same probability, or one answer for every document. A real model does neither
    where the converted model (the same weights) does not, so both are judged relative to
    ``ours``; without this probe a correct conversion would be reported as disagreeing.
    """
    if not len(texts):
        return None
    labels = theirs.shape[1]
    uniform = np.ptp(theirs, axis=1) < 1e-6
    if uniform.all() and not (np.ptp(ours, axis=1) < 1e-6).all():
        return (f"the installed fastText binding returns uniform probabilities "
                f"({theirs[0, 0]:.3g} for each of {labels} labels on all {len(texts)} "
                f"documents) while the converted model does not; {_BINDING_ADVICE}")
    if (len(set(texts)) > 1 and np.ptp(theirs, axis=0).max() < 1e-7
            and np.ptp(ours, axis=0).max() > TOLERANCE):
        return (f"the installed fastText binding returns the same probabilities for all "
                f"{len(texts)} documents while the converted model does not; "
                f"{_BINDING_ADVICE}")
    return None
