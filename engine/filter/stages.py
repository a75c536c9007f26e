"""The filter's stages behind one protocol: text fields, blocklists, classifiers, decision.

``Filter`` drives every stage through ``Stage`` and nothing else, in the order
``text -> blocklists -> classifiers -> decision``. The contract:

* **Construction** takes the stage's config only (its spec, compiled rules, the path of a
  saved automaton). A stage is cheap to pickle: it is sent to worker processes as config,
  never with a live automaton or onnxruntime session.
* **Loading** is lazy and happens in the process that runs the stage: ``load()`` builds or
  memory-maps the heavy state (the matcher automaton, the model session) once; ``run``
  calls it on first use. ``load()`` is idempotent; ``Filter.load()`` calls it for every
  stage so that a worker pays for it before its first shard.
* **Input**: ``run(text, columns)``. ``text`` is the batch's text column as a
  ``CheckedText``: already type-checked, converted to ``string``/``large_string``,
  offset-checked and UTF-8 validated by ``Filter`` at its boundary, with the rows whose
  UTF-8 is invalid set to null (``text.invalid`` marks them). A stage never checks the
  column again. ``columns`` holds what the earlier stages produced (read-only).
* **Output**: a ``StageOutput``: named NumPy columns, each of length ``len(text)``, named
  ``<stage>.<field>``; they are exactly the names ``fields()`` lists, which is what rules
  may read. The decision stage's columns are the outcome: ``decision.reason`` (index of
  the first drop rule that holds, -1 for none) and ``decision.keep`` (the keep-mask:
  readable rows that no rule removes). ``detail`` carries what only the stage itself
  reads back (the blocklist's matched terms), never the rules.
* **Annotation**: ``annotate(output, rows)`` gives the stage's ``fe_`` Arrow columns for
  the batch rows ``rows`` (the removed rows, or every readable row in annotate mode).
* **Counting**: ``count(output, removed, counts)`` adds what the stage explains to the
  batch's report counters: the decision counts removed rows per reason, a blocklist the
  removed rows per category and per matched term, a classifier the histogram of its
  scores over the rows it scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import fail
from engine.filter.audit import MAX_TERMS, capped_take
from engine.filter.rules import BOOL, NUM, Rule
from engine.filter.spec import TEXT_FIELDS, BlocklistSpec, ClassifierSpec
from engine.io.arrow_buffers import CheckedText

if TYPE_CHECKING:  # loaded lazily, in the process that runs the stage
    from engine.classify.classifier import Classifier
    from engine.match.matcher import Matcher, SpanResult

#: Histogram bins of a classifier's scores over [0, 1] in the report.
SCORE_BINS = 10
#: The decision stage's columns.
REASON = "decision.reason"
KEEP = "decision.keep"
#: The reason of a row whose text is longer than the cap given to ``Filter.apply``
#: (``max_doc_bytes``): removed before any rule, and never read by a stage.
TOO_LONG = "too_long"


@dataclass(frozen=True)
class StageOutput:
    """What one stage returns for one batch.

    Attributes:
        columns: ``name -> array of len(text)``: the fields of ``Stage.fields()``.
        detail: stage-private data handed back to the same stage's ``annotate`` and
            ``count`` (None for most stages).
    """

    columns: dict[str, np.ndarray]
    detail: object = None


class Counts(Protocol):
    """The counters a stage adds to (``FilterResult`` is one)."""

    @property
    def by_reason(self) -> Counter[str]:
        """Removed rows per drop reason."""
        ...

    @property
    def by_category(self) -> Counter[str]:
        """Removed rows that matched each ``stage.category``."""
        ...

    @property
    def terms(self) -> Counter[str]:
        """Removed rows per matched term."""
        ...

    @property
    def scores(self) -> dict[str, np.ndarray]:
        """Per classifier, a histogram of its scores over ``SCORE_BINS`` bins of [0, 1]."""
        ...


@runtime_checkable
class Stage(Protocol):
    """One step of ``text -> match -> classify -> decide``; see the module docstring."""

    @property
    def name(self) -> str:
        """The prefix of the stage's column names."""
        ...

    def fields(self) -> dict[str, str]:
        """``column name -> NUM or BOOL`` for every column ``run`` returns."""
        ...

    def load(self) -> None:
        """Load the heavy state now (idempotent); ``run`` does it on first use."""
        ...

    def run(self, text: CheckedText, columns: Mapping[str, np.ndarray]) -> StageOutput:
        """The stage's columns for one batch (``text`` checked, ``columns`` from earlier
        stages)."""
        ...

    def annotate(self, output: StageOutput, rows: np.ndarray) -> dict[str, pa.Array]:
        """``fe_`` Arrow columns for the batch rows ``rows`` (indices)."""
        ...

    def count(self, output: StageOutput, removed: np.ndarray, counts: Counts) -> None:
        """Add to ``counts`` what this stage explains; ``removed``: removed row indices."""
        ...


class TextStage:
    """The text's own fields: ``text.bytes`` (UTF-8 bytes), ``text.null``, ``text.empty``.

    A row with invalid UTF-8 reads as null here; the decision never removes it (it is
    reported unreadable instead).
    """

    name = "text"

    def fields(self) -> dict[str, str]:
        return dict(TEXT_FIELDS)

    def load(self) -> None:
        """Nothing to load."""

    def run(self, text: CheckedText, columns: Mapping[str, np.ndarray]) -> StageOutput:
        null = text.null
        nbytes = text.row_bytes
        return StageOutput({"text.bytes": nbytes, "text.null": null,
                            "text.empty": (nbytes == 0) & ~null})

    def annotate(self, output: StageOutput, rows: np.ndarray) -> dict[str, pa.Array]:
        return {}

    def count(self, output: StageOutput, removed: np.ndarray, counts: Counts) -> None:
        """Nothing: the filter counts text bytes itself (``text.bytes``)."""


@dataclass(frozen=True)
class _Terms:
    """Distinct matched patterns per row from one scan's spans: pairs sorted by row, then
    pattern id."""

    rows: np.ndarray
    ids: np.ndarray
    spans: SpanResult | None = None  # every occurrence, for the audit's ``fe_spans``


class BlocklistStage:
    """Count blocklist matches per row: total, distinct patterns, weight, per category.

    One scan per batch gives the counts and the spans from which the matched terms are
    taken (``fe_<name>_terms``, the report's term counts).

    Args:
        spec: the stage's files and options.
        saved: path of the matcher's saved automaton (workers map it instead of building).
    """

    def __init__(self, spec: BlocklistSpec, saved: str | None = None):
        self.spec = spec
        self.saved = saved
        self._matcher: Matcher | None = None
        self._names: pa.Array | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def matcher(self) -> Matcher:
        """The ``Matcher`` (built, or mapped from ``saved``, on first use)."""
        if self._matcher is None:
            from engine.match.matcher import Matcher

            if self.saved:
                self._matcher = Matcher.load(self.saved)
            else:
                self._matcher = Matcher.from_files(
                    self.spec.files, ignore_case=self.spec.ignore_case,
                    whole_words=self.spec.whole_words, normalize=self.spec.normalize,
                    join=self.spec.join, inflect=self.spec.inflect)
        return self._matcher

    def __getstate__(self) -> dict[str, object]:
        return {"spec": self.spec, "saved": self.saved, "_matcher": None, "_names": None}

    def fields(self) -> dict[str, str]:
        return self.spec.fields()

    def load(self) -> None:
        _ = self.matcher

    def run(self, text: CheckedText, columns: Mapping[str, np.ndarray]) -> StageOutput:
        result = self.matcher.scan(text, with_spans=True)
        name = self.spec.name
        out = {
            f"{name}.count": result.total,
            f"{name}.distinct": result.distinct,
            f"{name}.weight": result.weight,
        }
        for category in self.spec.categories:
            if category in result.categories:
                out[f"{name}.{category}"] = result.category(category)
            else:
                out[f"{name}.{category}"] = np.zeros(len(result.total), np.int32)
        spans = result.spans
        assert spans is not None  # asked for with_spans
        width = self.matcher.n_patterns
        key = np.unique(spans.row * width + spans.pattern_id)
        terms = _Terms(key // width, key % width, spans)
        return StageOutput(out, terms)

    def annotate(self, output: StageOutput, rows: np.ndarray) -> dict[str, pa.Array]:
        name = self.spec.name
        extra: dict[str, pa.Array] = {}
        for key in ("count", "distinct", *self.spec.categories):
            extra[f"fe_{name}_{key}"] = pa.array(
                np.asarray(output.columns[f"{name}.{key}"], np.int32)[rows])
        extra[f"fe_{name}_terms"] = self.terms(output, rows)
        return extra

    def terms(self, output: StageOutput, rows: np.ndarray) -> pa.ListArray:
        """Distinct matched patterns of each row in ``rows`` (a list column, in pattern-id
        order, at most ``audit.MAX_TERMS`` per row), from the batch's scan."""
        found = self._found(output)
        take, lengths = capped_take(found.rows, rows, MAX_TERMS)
        offsets = np.zeros(len(rows) + 1, np.int32)
        np.cumsum(lengths, out=offsets[1:])
        values = self._pattern_names().take(pa.array(found.ids[take], pa.int64()))
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)

    def found_spans(self, output: StageOutput) -> tuple[str, SpanResult, pa.Array]:
        """``(stage, every occurrence in the batch, pattern names)`` for the audit."""
        spans = self._found(output).spans
        assert spans is not None  # run() keeps them
        return self.spec.name, spans, self._pattern_names()

    def count(self, output: StageOutput, removed: np.ndarray, counts: Counts) -> None:
        if not len(removed):
            return
        name = self.spec.name
        for category in self.spec.categories:
            key = f"{name}.{category}"
            hits = int(np.count_nonzero(output.columns[key][removed]))
            if hits:
                counts.by_category[key] += hits
        found = self._found(output)
        is_removed = np.zeros(len(output.columns[f"{name}.count"]), bool)
        is_removed[removed] = True
        ids = found.ids[is_removed[found.rows]]
        if len(ids):
            per_id = np.bincount(ids)
            hit = np.flatnonzero(per_id)
            names = self._pattern_names().take(pa.array(hit, pa.int64())).to_pylist()
            counts.terms.update(dict(zip(names, per_id[hit].tolist(), strict=True)))

    def _found(self, output: StageOutput) -> _Terms:
        if not isinstance(output.detail, _Terms):
            raise TypeError(f"stage {self.spec.name!r}: output of another stage")
        return output.detail

    def _pattern_names(self) -> pa.Array:
        if self._names is None:
            self._names = pa.array(self.matcher.patterns, pa.string())
        return self._names


class ClassifierStage:
    """Score rows with one model; with ``run_if``, only the rows the rule selects.

    Rows not scored (nulls, invalid UTF-8, rows the cascade skipped) get NaN, which every
    comparison in a rule treats as false.

    With ``windows = "around_hits"`` (a transformer model), only the rows where the
    blocklist stage ``hits`` matched are scored, each on the token windows around its
    matches (``TransformerBackend.probabilities_around``). The spans come from that
    stage's own matcher, run again over the selected rows only: nothing is kept or passed
    between stages for it, so a filter without the option pays nothing, and one with it
    pays a second scan of only the rows it is about to run a transformer on (measured: 6 %
    of the stage's time on 20 KB documents with ``normalize = "robust"`` and 128-token
    windows; benchmarks/RESULTS.md).

    Args:
        spec: the stage's config.
        run_if: the cascade rule (``FilterSpec.compile_rules``), if any.
        hits: the blocklist stage ``spec.hits_from`` names (``windows = "around_hits"``).
    """

    def __init__(self, spec: ClassifierSpec, run_if: Rule | None = None,
                 hits: BlocklistStage | None = None):
        wanted = spec.hits_from if spec.windows == "around_hits" else None
        if (hits.name if hits else None) != wanted:
            raise fail("E055", where=f"classifier {spec.name!r}", problem=f"hits_from "
                       f"names blocklist {wanted!r}; the stage was given "
                       f"{hits.name if hits else None!r}")
        self.spec = spec
        self.run_if = run_if
        self.hits = hits
        self._model: Classifier | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def model(self) -> Classifier:
        """The ``Classifier`` (loaded on first use)."""
        if self._model is None:
            from engine.classify.classifier import Classifier

            model = Classifier.load(self.spec.model, device=self.spec.device,
                                    threads=self.spec.threads)
            if self.hits is not None:  # refuse a model without windows before any row
                model.windowed(f"classifier {self.spec.name!r}")
            self._model = model
        return self._model

    def __getstate__(self) -> dict[str, object]:
        return {"spec": self.spec, "run_if": self.run_if, "hits": self.hits, "_model": None}

    def fields(self) -> dict[str, str]:
        return self.spec.fields()

    def load(self) -> None:
        _ = self.model

    def run(self, text: CheckedText, columns: Mapping[str, np.ndarray]) -> StageOutput:
        """Score columns (``name.score`` and per-label) for the rows that are selected."""
        n = len(text)
        selected = ~text.null
        if self.run_if is not None:
            selected &= self.run_if.evaluate(columns, n)
        if self.hits is not None:
            selected &= columns[f"{self.hits.name}.count"] > 0
        index = np.flatnonzero(selected)
        labels = self.spec.labels
        name = self.spec.name
        score = np.full(n, np.nan, np.float32)
        per_label = np.full((n, len(labels)), np.nan, np.float32)
        if len(index):
            subset = text if len(index) == n else text.take(index)
            if self.hits is not None:
                probs = self._around_hits(subset)
                if labels:
                    per_label[index] = probs
                score[index] = probs[:, list(self.model.labels).index(self.model.score_label)]
            elif labels:  # one inference gives every label; the score is one column of it
                probs = self.model.score(subset, all_labels=True)
                per_label[index] = probs
                score[index] = probs[:, list(self.model.labels).index(self.model.score_label)]
            else:
                score[index] = self.model.score(subset)
        out = {f"{name}.score": score}
        for j, label in enumerate(labels):
            out[f"{name}.{label}"] = per_label[:, j]
        return StageOutput(out)

    def _around_hits(self, subset: CheckedText) -> np.ndarray:
        """Every label's probability per row of ``subset`` from the windows around the
        ``hits`` stage's matches (rows with none: NaN)."""
        assert self.hits is not None
        found = self.hits.matcher.spans(subset)
        return self.model.score_around(subset.array.to_pylist(), found.row, found.start,
                                       found.end)

    def annotate(self, output: StageOutput, rows: np.ndarray) -> dict[str, pa.Array]:
        score = np.asarray(output.columns[f"{self.spec.name}.score"], np.float32)[rows]
        return {f"fe_{self.spec.name}_score": pa.array(score, pa.float32(),
                                                       mask=np.isnan(score))}

    def count(self, output: StageOutput, removed: np.ndarray, counts: Counts) -> None:
        scores = output.columns[f"{self.spec.name}.score"]
        finite = scores[~np.isnan(scores)]
        hist = np.histogram(np.clip(finite, 0, 1), bins=SCORE_BINS, range=(0, 1))[0]
        previous = counts.scores.get(self.spec.name)
        counts.scores[self.spec.name] = hist if previous is None else previous + hist


class DecisionStage:
    """The decision: the first drop rule that holds removes a row, with its reason.

    A row whose text was over the filter's byte cap (``text.too_long``; its text reads as
    null to every stage) is removed with reason ``too_long`` before any rule is looked at.
    Rows whose UTF-8 is invalid are neither kept nor removed (the filter reports them
    unreadable).

    Args:
        drops: ``(reason, rule)`` in order (``FilterSpec.compile_rules``).
    """

    name = "decision"

    def __init__(self, drops: list[tuple[str, Rule]]):
        self.drops = drops
        self.reasons = [TOO_LONG, *(reason for reason, _ in drops)]  # code 0: too_long

    def fields(self) -> dict[str, str]:
        return {REASON: NUM, KEEP: BOOL}

    def load(self) -> None:
        """Nothing to load."""

    def run(self, text: CheckedText, columns: Mapping[str, np.ndarray]) -> StageOutput:
        n = len(text)
        readable = np.ones(n, bool) if text.invalid is None else ~text.invalid
        long = np.zeros(n, bool) if text.too_long is None else text.too_long
        rule = decide(self.drops, columns, n, eligible=readable & ~long)
        reason = np.where(rule >= 0, rule + 1, -1).astype(np.int16)
        reason[long] = 0
        return StageOutput({REASON: reason, KEEP: (reason < 0) & readable})

    def annotate(self, output: StageOutput, rows: np.ndarray) -> dict[str, pa.Array]:
        reason = output.columns[REASON][rows]
        names = pa.array(self.reasons or [""], pa.string())
        codes = pa.array(np.where(reason >= 0, reason, 0), pa.int64())
        return {"fe_reason": pc.if_else(pa.array(reason >= 0), names.take(codes),
                                        pa.scalar(None, pa.string()))}

    def count(self, output: StageOutput, removed: np.ndarray, counts: Counts) -> None:
        codes, hits = np.unique(output.columns[REASON][removed], return_counts=True)
        counts.by_reason.update({self.reasons[int(c)]: int(h)
                                 for c, h in zip(codes, hits, strict=True)})


def decide(drops: list[tuple[str, Rule]], columns: Mapping[str, object], n: int,
           eligible: np.ndarray) -> np.ndarray:
    """Index of the first drop rule that holds per row, or -1 to keep it."""
    reason = np.full(n, -1, np.int16)
    for i, (_, rule) in enumerate(drops):
        hit = rule.evaluate(columns, n) & eligible & (reason < 0)
        reason[hit] = i
    return reason
