"""Why a row is kept or removed, as data: each stage's output, every drop rule's value, and
the rule that decided (``filter-engine explain`` prints it).

It runs the filter's own stages (``Filter.trace``), so it always agrees with what ``apply``
(and a run) decides for the same text and filter.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from engine.filter.apply import Filter
from engine.filter.stages import KEEP, REASON


def _plain(value: object) -> object:
    """A NumPy scalar as JSON-able Python (NaN: None, the model did not score the row)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value


def explain(filt: Filter, table: pa.Table, max_doc_bytes: int | None = None) -> list[dict]:
    """One explanation per row of ``table``: ``{verdict, reason, rule, stages, rules}``.

    ``verdict`` is ``keep``, ``remove`` or ``unreadable`` (invalid UTF-8); ``stages`` maps
    each stage to its fields (``{"bl": {"count": 3, ...}, "spam": {"score": 0.93}}``);
    ``rules`` lists every drop rule in order with whether it holds (the first that holds
    decides; ``too_long`` comes before them all).
    """
    columns = filt.trace(table, max_doc_bytes=max_doc_bytes)
    n = table.num_rows
    held = [rule.evaluate(columns, n) for _, rule in filt.decision.drops]
    reasons = filt.reasons
    out = []
    for i in range(n):
        stages: dict[str, dict] = {}
        for name, values in columns.items():
            stage, _, field = name.partition(".")
            if stage != "decision":
                stages.setdefault(stage, {})[field] = _plain(values[i])
        code = int(columns[REASON][i])
        unreadable = not bool(columns[KEEP][i]) and code < 0  # neither kept nor removed
        verdict = "unreadable" if unreadable else ("keep" if code < 0 else "remove")
        rule = None
        if code == 0:
            rule = "text longer than max_doc_bytes"
        elif code > 0:
            rule = filt.decision.drops[code - 1][1].source
        out.append({
            "verdict": verdict,
            "reason": reasons[code] if code >= 0 else None,
            "rule": rule,
            "stages": stages,
            "rules": [{"reason": reason, "rule": r.source, "holds": bool(h[i])}
                      for (reason, r), h in zip(filt.decision.drops, held, strict=True)],
        })
    return out
