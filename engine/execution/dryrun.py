"""``run --dry-run``: filter a sample in this process and estimate the whole run.

Reads the first rows of a few shards (spread over the input list), applies the filter,
and extrapolates the removal rate and the run's time from the measured text throughput and
the input bytes still to read. Nothing is written.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ShardError
from engine.filter.apply import Filter
from engine.filter.spec import FilterSpec
from engine.io.readers import SchemaDrift, ShardReader
from engine.io.shards import discover

MAX_SAMPLED_SHARDS = 8


@dataclass
class Estimate:
    shards: int
    input_bytes: int
    sampled_rows: int
    sampled_input_bytes: int
    sampled_text_bytes: int
    removed: Counter
    unreadable: int
    filter_seconds: float
    workers: int
    errors: list[str]

    @property
    def text_mb_s(self) -> float:
        return self.sampled_text_bytes / 1e6 / self.filter_seconds if self.filter_seconds else 0

    def summary(self) -> str:
        rows = max(self.sampled_rows, 1)
        removed = sum(self.removed.values())
        ratio = self.sampled_text_bytes / max(self.sampled_input_bytes, 1)
        total_text = self.input_bytes * ratio
        seconds = total_text / 1e6 / max(self.text_mb_s, 1e-9) / self.workers
        lines = [
            f"dry run: {self.shards} shards, {self.input_bytes / 1e6:,.1f} MB of input; "
            f"sampled {self.sampled_rows:,} rows from {min(self.shards, MAX_SAMPLED_SHARDS)} "
            "shard(s)",
            f"would remove {removed:,} of {self.sampled_rows:,} sampled rows "
            f"({100 * removed / rows:.2f}%), unreadable {self.unreadable:,}",
        ]
        lines += [f"  {reason}: {n:,} ({100 * n / rows:.2f}%)"
                  for reason, n in self.removed.most_common()]
        lines.append(f"filter speed here: {self.text_mb_s:,.1f} MB/s of text per core; "
                     f"estimated run time with {self.workers} worker(s): "
                     f"{seconds / 60:,.1f} min (filtering only, excludes reading/writing)")
        lines += [f"  sample error: {e}" for e in self.errors]
        return "\n".join(lines)


def dry_run(inputs, spec: FilterSpec | str | Path | None = None, sample_rows: int = 20000,
            workers: int = 1) -> Estimate:
    """Estimate removal rate and time from a sample (see module docstring).

    ``spec`` is anything ``FilterSpec.load`` takes (None: the shipped default filter).
    """
    spec = FilterSpec.load(spec)
    shards = discover(inputs)
    step = max(1, len(shards) // MAX_SAMPLED_SHARDS)
    picked = shards[::step][:MAX_SAMPLED_SHARDS]
    filt = Filter(spec).load()
    per_shard = max(1, sample_rows // len(picked))
    est = Estimate(len(shards), sum(max(s.size, 0) for s in shards), 0, 0, 0, Counter(), 0,
                   0.0, workers, [])
    for shard in picked:
        taken = 0
        reader = ShardReader(shard.uri, spec.text_column, min(spec.batch_rows, per_shard))
        try:
            for batch in reader:
                started = time.perf_counter()
                result = filt.apply(batch)
                est.filter_seconds += time.perf_counter() - started
                est.sampled_rows += result.rows
                est.sampled_text_bytes += result.text_bytes
                est.removed.update(result.by_reason)
                est.unreadable += len(result.unreadable)
                taken += batch.num_rows
                if taken >= per_shard:
                    break
        except ShardError as err:
            est.errors.append(str(err))
            continue
        except SchemaDrift:  # a JSONL column changes type further on: the sample is taken
            pass
        rows_total = reader.stats.footer_rows
        fraction = taken / rows_total if rows_total else 1.0
        est.sampled_input_bytes += int(max(shard.size, 0) * min(fraction, 1.0))
    return est
