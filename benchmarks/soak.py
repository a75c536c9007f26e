"""The kill -9 soak: many cycles of (run, kill the parent or a worker at a random moment,
resume) on a generated corpus, each cycle's final output compared byte for byte with one
fault-free run. ``tests/test_run_faults.py`` keeps a four-kill version in CI; this is the
long one (issue 8, "Prove it").

    python benchmarks/soak.py --cycles 50 --mb 24 --shards 12 --workers 2 [--seed 1]

Prints one line per cycle and a summary; exit 0 only if every cycle ended with the clean
bytes, every shard accounted and no orphan worker after a parent kill.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from engine.bench.corpus import make_patterns, write_corpus_parquet

SKIP = {"report.json", "_manifest.json", "_lock", "_verified.json"}


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name not in SKIP}


def accounted(out: Path) -> bool:
    report = json.loads((out / "report.json").read_text())
    return bool(report["accounting"]["ok"])


def command(data: Path, out: Path, config: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "engine", "run", str(data / "*.parquet"), "-o", str(out),
            "-c", str(config), "--workers", str(workers), "--progress", "none"]


def kill_once(cmd: list[str], rng: random.Random, horizon: float) -> tuple[str, bool]:
    """Start a run, SIGKILL the parent or one worker at a random moment; (victim, orphans)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(rng.uniform(0.2, horizon))
    parent = psutil.Process(proc.pid)
    try:
        children = parent.children(recursive=True)
        victim = rng.choice([parent, *children])
        victim.send_signal(signal.SIGKILL)
    except psutil.NoSuchProcess:  # finished before the kill
        proc.wait()
        return "none (finished first)", False
    proc.wait(timeout=300)
    orphans = False
    if victim.pid == proc.pid:
        _, alive = psutil.wait_procs(children, timeout=30)
        orphans = bool(alive)
        for p in alive:
            p.kill()
    return ("parent" if victim.pid == proc.pid else "worker"), orphans


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--mb", type=float, default=24, help="corpus size, MB of text")
    ap.add_argument("--shards", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="keep the corpus and outputs here (default: temp)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fe-soak-"))
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    for i in range(args.shards):
        write_corpus_parquet(data / f"s{i:03d}.parquet", int(args.mb * 1e6 / args.shards),
                             args.seed + i)
    (work / "terms.txt").write_text("\n".join(make_patterns(2000)) + "\n", encoding="utf-8")
    config = work / "filter.toml"
    config.write_text(f'[[blocklist]]\nname = "bl"\nfiles = ["{work / "terms.txt"}"]\n\n'
                      '[drop_if]\nhits = "bl.distinct >= 3"\n')
    clean_out = work / "clean"
    started = time.perf_counter()
    subprocess.run(command(data, clean_out, config, args.workers), check=True)
    horizon = max(0.5, time.perf_counter() - started)
    clean = digests(clean_out)
    print(f"clean run: {len(clean)} files, {horizon:.1f} s; killing within that window")
    failures = 0
    kills = {"parent": 0, "worker": 0, "none (finished first)": 0}
    for cycle in range(args.cycles):
        out = work / "cycle"
        shutil.rmtree(out, ignore_errors=True)
        cmd = command(data, out, config, args.workers)
        victims = []
        orphans = False
        for _ in range(rng.randint(1, 3)):  # one to three kills before the final resume
            victim, orphan = kill_once(cmd, rng, horizon)
            victims.append(victim)
            kills[victim] += 1
            orphans |= orphan
        final = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
        same = final.returncode == 0 and digests(out) == clean and accounted(out)
        ok = same and not orphans
        failures += not ok
        print(f"cycle {cycle + 1:3d}: killed {', '.join(victims):40s} exit {final.returncode} "
              f"{'same bytes' if same else 'DIFFERENT'}{' ORPHANS' if orphans else ''}",
              flush=True)
        if not ok and final.stderr:
            print(final.stderr[-2000:], file=sys.stderr)
    print(f"{args.cycles - failures}/{args.cycles} cycles ended with the clean bytes; kills: "
          f"{kills}; corpus {args.mb:g} MB in {args.shards} shards, {args.workers} workers, "
          f"seed {args.seed}, host {os.cpu_count()} cores")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
