"""Term screening: how often each blocklist term hits benign text, and hazard text.

For every pattern of a list, the documents that contain it (at least once, matched as the
filter matches: same ``ignore_case``, ``whole_words`` and ``normalize``) are counted among
the benign rows and among the hazard-labelled rows, per million documents of each. Their
ratio is Deep Ignorance's positive-ratio screen (EleutherAI/UK AISI 2025): a term that is
about as frequent in benign text as in hazard text says little about hazard.

**The ambiguity rule** (``ScreenRule``; both limits are options of ``filter-engine screen``):
a term is *ambiguous* when

* it hits more than ``max_benign_per_m`` benign documents per million (default 10: about
  3 documents in the 340,000 of the reference set), or
* it hits any benign document and its ratio ``hazard_per_m / benign_per_m`` is below
  ``min_ratio`` (default 10).

A term that hits no benign document is never ambiguous (``ratio`` is ``inf``); one that
hits nothing at all has an empty ratio.

Each list's table (``ListScreen.tsv``), one row per pattern, sorted by benign documents
(most first), then hazard documents: ``term`` (the pattern; not named ``pattern`` so
that no matcher reads a screen as a blocklist), ``categories``, ``weight``,
``benign_docs``, ``hazard_docs``, ``benign_per_m``, ``hazard_per_m``, ``ratio``,
``ambiguous`` (``true``/``false``), ``why``, then ``docs_<label>`` per hazard label.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.io.arrow_buffers import check_text
from engine.match.matcher import Matcher, MatcherOptions
from engine.quality.trace import term_table


@dataclass(frozen=True)
class ScreenRule:
    """When a term is ambiguous (see the module docstring)."""

    max_benign_per_m: float = 10.0
    min_ratio: float = 10.0

    def verdict(self, benign_docs: int, benign_per_m: float | None,
                ratio: float | None) -> tuple[bool, str]:
        """``(ambiguous, why)``; ``why`` names the limit the term is past ("" if none)."""
        if benign_per_m is not None and benign_per_m > self.max_benign_per_m:
            return True, f"benign {benign_per_m:.1f}/M > {self.max_benign_per_m:g}"
        if benign_docs and ratio is not None and ratio < self.min_ratio:
            return True, f"ratio {ratio:.2f} < {self.min_ratio:g}"
        return False, ""


@dataclass(frozen=True)
class TermScreen:
    """One pattern's screen."""

    pattern: str
    categories: tuple[str, ...]
    weight: float
    benign_docs: int
    hazard_docs: int
    benign_per_m: float | None
    hazard_per_m: float | None
    ratio: float | None
    ambiguous: bool
    why: str
    by_label: tuple[int, ...]


@dataclass(frozen=True)
class ListScreen:
    """Every pattern of one list file, screened.

    Attributes:
        path: the list file.
        terms: one ``TermScreen`` per pattern, sorted (see the module docstring).
        benign_rows, hazard_rows: documents of each side.
        hazard_labels: the labels of ``TermScreen.by_label``.
    """

    path: Path
    terms: list[TermScreen]
    benign_rows: int
    hazard_rows: int
    hazard_labels: tuple[str, ...]

    @property
    def stem(self) -> str:
        return self.path.name.rsplit(".", 1)[0]

    def tsv(self) -> str:
        """The table as tab-separated text with a header row."""
        head = ["term", "categories", "weight", "benign_docs", "hazard_docs",
                "benign_per_m", "hazard_per_m", "ratio", "ambiguous", "why",
                *(f"docs_{label}" for label in self.hazard_labels)]
        lines = ["\t".join(head)]
        for t in self.terms:
            cells = [_clean(t.pattern), ",".join(t.categories), f"{t.weight:g}",
                     str(t.benign_docs), str(t.hazard_docs), _fmt(t.benign_per_m),
                     _fmt(t.hazard_per_m), _fmt(t.ratio), "true" if t.ambiguous else "false",
                     t.why, *(str(n) for n in t.by_label)]
            lines.append("\t".join(cells))
        return "\n".join(lines) + "\n"


def screen_lists(paths: Sequence[str | Path], text: pa.ChunkedArray | pa.Array,
                 labels: np.ndarray, *, benign_labels: Sequence[str] = ("benign",),
                 options: MatcherOptions | None = None,
                 rule: ScreenRule | None = None) -> list[ListScreen]:
    """Screen every term of every list against labelled text.

    Args:
        paths: blocklist files (``.txt``/``.tsv``/``.jsonl``), each screened on its own.
        text: the documents.
        labels: ``object[n]`` label per document; those in ``benign_labels`` are benign,
            any other label hazard.
        options: how the matcher compares (``ignore_case``, ``whole_words``, ``normalize``;
            default: the matcher's defaults).
        rule: when a term is ambiguous (default ``ScreenRule()``).
    """
    options = options or MatcherOptions()
    rule = rule or ScreenRule()
    checked = check_text(text, where="column 'text'")
    readable = np.ones(len(checked), bool) if checked.invalid is None else ~checked.invalid
    is_benign = np.isin(labels, list(benign_labels))
    benign = is_benign & readable
    hazard = ~is_benign & readable
    hazard_labels = tuple(sorted(set(labels[hazard].tolist())))
    masks = [benign, hazard, *(labels == label for label in hazard_labels)]
    out = []
    for path in paths:
        matcher = Matcher.from_files([path], ignore_case=options.ignore_case,
                                     whole_words=options.whole_words,
                                     normalize=options.normalize)
        docs = documents_per_pattern(matcher, checked, masks)
        terms = []
        info = term_table(matcher)
        for pid, pattern in enumerate(matcher.patterns):
            b, h = int(docs[0][pid]), int(docs[1][pid])
            b_m, h_m = _per_m(b, int(benign.sum())), _per_m(h, int(hazard.sum()))
            ratio = _ratio(h_m, b_m)
            ambiguous, why = rule.verdict(b, b_m, ratio)
            terms.append(TermScreen(pattern, info[pattern].categories,
                                    info[pattern].weight, b, h, b_m, h_m, ratio, ambiguous, why,
                                    tuple(int(d[pid]) for d in docs[2:])))
        terms.sort(key=lambda t: (-t.benign_docs, -t.hazard_docs, t.pattern))
        out.append(ListScreen(Path(path), terms, int(benign.sum()), int(hazard.sum()),
                              hazard_labels))
    return out


def documents_per_pattern(matcher: Matcher, text: object,
                          masks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """For each row mask, ``int64[n_patterns]``: the masked documents that contain each
    pattern at least once."""
    spans = matcher.scan(text, with_spans=True).spans
    assert spans is not None  # asked for with_spans
    width = matcher.n_patterns
    key = np.unique(spans.row.astype(np.int64) * width + spans.pattern_id)
    rows, ids = key // width, key % width
    return [np.bincount(ids[mask[rows]], minlength=width) for mask in masks]


def _per_m(docs: int, rows: int) -> float | None:
    return docs * 1e6 / rows if rows else None


def _ratio(hazard_per_m: float | None, benign_per_m: float | None) -> float | None:
    if hazard_per_m is None or benign_per_m is None:
        return None
    if benign_per_m == 0:
        return math.inf if hazard_per_m else None
    return hazard_per_m / benign_per_m


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return "inf" if math.isinf(value) else f"{value:.2f}"


def _clean(pattern: str) -> str:
    """A pattern as one TSV cell (a tab or newline inside it would break the row)."""
    return pattern.replace("\t", " ").replace("\n", " ")
