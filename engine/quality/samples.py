"""The rows a person should read: seeded samples of false positives and false negatives.

Each sample carries what decided it: the reason that removed it (or none), the distinct
blocklist terms it matched with their categories and weights, and every classifier score.
The same seed gives the same rows (see ``pick``), so two evaluations of two filters can be
compared sample by sample.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

from engine.quality.trace import Trace

#: Characters of text kept in a sample (the rest is cut, and the full length is given).
TEXT_CHARS = 400
#: Characters either side of the first matched term in a sample's ``context``.
CONTEXT_CHARS = 150


def pick(rows: np.ndarray, n: int, seed: int, key: str) -> np.ndarray:
    """Up to ``n`` of ``rows`` (indices), drawn without replacement, in row order.

    Each list (``key``: the false positives, or a label's false negatives) has its own
    generator seeded with ``(seed, crc32(key))``, so one list's draw does not depend on how
    long another list was: two filters whose false negatives of a label are the same rows
    show the same samples of them.
    """
    if len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return np.sort(rng.choice(rows, size=n, replace=False))


def describe(rows: np.ndarray, table: pa.Table, result: Trace) -> list[dict[str, object]]:
    """One dict per row: its columns, cut text, reason, matched terms and scores."""
    if not len(rows):
        return []
    index = pa.array(rows, pa.int64())
    picked = table.take(index).to_pylist()
    terms = {name: column.take(index).to_pylist() for name, column in result.terms.items()}
    out = []
    for k, (row, values) in enumerate(zip(rows.tolist(), picked, strict=True)):
        text = values.pop("text")
        code = int(result.reason[row])
        sample: dict[str, object] = {"row": row, **values}
        sample["reason"] = result.reasons[code] if code >= 0 else None
        sample["terms"] = {
            name: [result.term_info[name][t].to_dict() for t in found[k] or []]
            for name, found in terms.items()}
        sample["scores"] = {name: _score(s[row]) for name, s in result.scores.items()}
        sample["text_chars"] = len(text or "")
        sample["text"] = (text or "")[:TEXT_CHARS]
        sample["context"] = _context(text or "", [t for found in terms.values()
                                                  for t in found[k] or []])
        out.append(sample)
    return out


def _context(text: str, terms: list[str]) -> str | None:
    """The text around the first place a matched term occurs (compared lower-cased), for
    a term past the cut ``text``; None when no term is found that simply (a match made
    through normalisation)."""
    lowered = text.lower()
    places = [(i, len(t)) for t in terms if (i := lowered.find(t.lower())) >= 0]
    if not places:
        return None
    start, length = min(places)
    return text[max(0, start - CONTEXT_CHARS):start + length + CONTEXT_CHARS]


def _score(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)
