"""What a whole filter decided for every row of a labelled set, and why.

``trace`` drives the stages of an ``engine.Filter`` through the ``Stage`` protocol exactly
as ``Filter.apply`` does (the text column checked once and capped at ``max_doc_bytes``, then
``text -> blocklists -> classifiers -> decision``), so the reasons are the ones ``filter-engine
run`` writes: the decision is the filter's own ``DecisionStage``, not a second
implementation (``tests/test_quality_eval.py`` checks the two agree row for row). It keeps
what ``Filter.apply`` throws away and a measurement needs: each drop rule evaluated on its
own ("would it fire alone?"), every row's matched terms and every classifier score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from engine.filter.apply import Filter
from engine.filter.stages import REASON, BlocklistStage
from engine.io.arrow_buffers import check_text
from engine.match.matcher import Matcher


@dataclass(frozen=True)
class Term:
    """One blocklist pattern as the matcher holds it (first spelling of merged duplicates)."""

    pattern: str
    categories: tuple[str, ...]
    weight: float

    def to_dict(self) -> dict[str, object]:
        return {"term": self.pattern, "categories": list(self.categories),
                "weight": self.weight}


@dataclass
class Trace:
    """Per-row outcome of a filter over a set of ``rows`` rows.

    Attributes:
        reasons: reason names by code (``Filter.reasons``: ``too_long`` first).
        rules: the rule text of each reason (for ``too_long``, the cap it applied).
        reads: the stages each reason's rule reads (``hazard`` for ``hazard.count``).
        reason: ``int16[rows]``: code of the reason that removed the row, -1 if kept.
        unreadable: ``bool[rows]``: text that is not valid UTF-8 (neither kept nor removed).
        alone: ``bool[rows, len(reasons)]``: the reason's rule holds on the row by itself
            (whatever the rules before it decided).
        hits: per blocklist stage, ``int32[rows]`` occurrences.
        terms: per blocklist stage, the distinct matched patterns of each row.
        scores: per classifier stage, ``float32[rows]`` (NaN where it did not run).
        thresholds: per classifier stage, its model card's threshold.
        term_info: per blocklist stage, pattern text -> ``Term``.
    """

    reasons: list[str]
    rules: list[str]
    reads: list[set[str]]
    reason: np.ndarray
    unreadable: np.ndarray
    alone: np.ndarray
    hits: dict[str, np.ndarray] = field(default_factory=dict)
    terms: dict[str, pa.ChunkedArray] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    term_info: dict[str, dict[str, Term]] = field(default_factory=dict)

    @property
    def removed(self) -> np.ndarray:
        return self.reason >= 0


def trace(flt: Filter, text: pa.ChunkedArray | pa.Array, *, max_doc_bytes: int | None,
          batch_rows: int | None = None) -> Trace:
    """Run ``flt`` over the text column and keep every row's reason, terms and scores.

    Args:
        flt: the filter (its ``mode`` does not matter: nothing is split or written).
        text: the text column.
        max_doc_bytes: rows with longer text are removed as ``too_long`` unread, as in a run.
        batch_rows: rows per batch (default: the spec's ``batch_rows``).
    """
    flt.load()
    column = text
    step = batch_rows or flt.spec.batch_rows
    reasons, codes, unreadable, alone = flt.reasons, [], [], []
    hits: dict[str, list[np.ndarray]] = {s.name: [] for s in flt.blocklists}
    terms: dict[str, list[pa.Array]] = {s.name: [] for s in flt.blocklists}
    scores: dict[str, list[np.ndarray]] = {s.name: [] for s in flt.classifiers}
    for start in range(0, max(len(column), 1), step):
        checked = check_text(column.slice(start, step), where="column 'text'").capped(
            max_doc_bytes)
        n = len(checked)
        columns: dict[str, np.ndarray] = {}
        outputs = []
        for stage in flt.stages:
            output = stage.run(checked, columns)
            columns.update(output.columns)
            outputs.append(output)
        invalid = np.zeros(n, bool) if checked.invalid is None else checked.invalid
        long = np.zeros(n, bool) if checked.too_long is None else checked.too_long
        eligible = ~invalid & ~long
        fired = np.zeros((n, len(reasons)), bool)
        fired[:, 0] = long
        for j, (_, rule) in enumerate(flt.decision.drops, start=1):
            fired[:, j] = rule.evaluate(columns, n) & eligible
        codes.append(np.asarray(columns[REASON], np.int16))
        unreadable.append(invalid)
        alone.append(fired)
        everything = np.arange(n)
        for stage, output in zip(flt.stages, outputs, strict=True):
            if isinstance(stage, BlocklistStage):
                hits[stage.name].append(np.asarray(output.columns[f"{stage.name}.count"]))
                terms[stage.name].append(stage.terms(output, everything))
        for clf in flt.classifiers:
            scores[clf.name].append(np.asarray(columns[f"{clf.name}.score"], np.float32))
    result = Trace(
        reasons=reasons,
        rules=[f"text.bytes > {max_doc_bytes}" if max_doc_bytes else "(no cap)",
               *(rule.source for _, rule in flt.decision.drops)],
        reads=[set(), *({name.split(".", 1)[0] for name in rule.names}
                        for _, rule in flt.decision.drops)],
        reason=np.concatenate(codes),
        unreadable=np.concatenate(unreadable),
        alone=np.concatenate(alone),
    )
    for stage in flt.blocklists:
        result.hits[stage.name] = np.concatenate(hits[stage.name])
        result.terms[stage.name] = pa.chunked_array(terms[stage.name])
        result.term_info[stage.name] = term_table(stage.matcher)
    for clf in flt.classifiers:
        result.scores[clf.name] = np.concatenate(scores[clf.name])
        result.thresholds[clf.name] = float(clf.model.threshold)
    return result


def term_table(matcher: Matcher) -> dict[str, Term]:
    """Every pattern of a matcher with its categories and weight, by pattern text.

    The weights are read from the automaton's own weight array: the matcher has no public
    accessor for them yet, and rebuilding them from the files would repeat its merging of
    duplicate spellings (highest weight wins).
    """
    weights = matcher.weights
    return {text: Term(text, matcher.pattern_categories(pid), float(weights[pid]))
            for pid, text in enumerate(matcher.patterns)}
