"""How ``report.html`` scales with the number of shards: ``filter-engine report OUT`` over N
synthetic markers (copies of one real shard's marker), its wall time and peak memory.

    taskset -c 0 .venv/bin/python benchmarks/report_scale.py 100000
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import engine
from engine.execution import html_report
from engine.execution.report import from_output
from engine.io.writers import Output
from tests.runkit import markers, write_lists, write_shards


def main(count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="report-scale-"))
    config = write_lists(root)
    (path,) = write_shards(root, count=1, rows=2000, sub=False)
    real = root / "run"
    engine.run(str(path), str(real), str(config), workers=1)
    (marker,) = markers(real).values()
    fake = root / "fake"
    (fake / "_done").mkdir(parents=True)
    (fake / "removed").mkdir()
    removed = marker["outputs"]["removed"]["path"]
    (fake / removed).write_bytes((real / removed).read_bytes())
    for i in range(count):
        name = f"part-{i:06d}.parquet"
        (fake / "_done" / f"{name}.json").write_text(json.dumps(dict(marker, shard=name)))
    report = json.loads((real / "report.json").read_text())
    started = time.perf_counter()
    out = Output(str(fake))
    html_report.write(out, from_output(out, {**report, "shards": {}}, None))
    took = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"{count:,} shards: report.html in {took:.1f} s, max RSS {rss:.0f} MB "
          f"(page {(fake / 'report.html').stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
