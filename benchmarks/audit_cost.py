"""What the audit columns cost inside ``Filter.apply``: the cumulative time of
``Filter._audit`` against the whole call, under cProfile (wall times on a shared host are
too noisy to compare two runs), on 200,000 rows of tests/runkit's texts, most of them removed.

    taskset -c 0 .venv/bin/python benchmarks/audit_cost.py
"""

from __future__ import annotations

import cProfile
import pstats
import tempfile
from pathlib import Path

import pyarrow as pa

from engine.filter.apply import Filter
from tests.runkit import texts, write_lists


def main() -> None:
    config = write_lists(Path(tempfile.mkdtemp(prefix="audit-cost-")))
    table = pa.table({"text": texts(200_000, 7)})
    filt = Filter(str(config)).load()
    removed = filt.apply(table).removed_rows  # warm: hashes, automaton
    profile = cProfile.Profile()
    profile.runcall(filt.apply, table)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    cum = {f"{Path(k[0]).name}:{k[2]}": v[3] for k, v in stats.items()}
    total, audit = cum["apply.py:apply"], cum["apply.py:_audit"]
    print(f"{table.num_rows:,} rows, {removed:,} removed: apply {total:.3f} s, of which the "
          f"audit columns {audit:.3f} s ({100 * audit / total:.1f} %)")


if __name__ == "__main__":
    main()
