"""The transformer benchmark behind ``filter-engine bench --device``.

Times ``Classifier.score`` on generated documents (``corpus.make_corpus``, log-normal
lengths around 3 KB) with a transformer model directory at each window size: docs/s,
windows/s (every window of ``max_length`` tokens the model ran), and on CUDA the GPU busy
fraction, sampled from ``nvidia-smi`` while the timed runs last; each twice, with the
backend's pipeline prefetching (the next step tokenized while the session runs this one)
and without (``sequential_*``: tokenize, run, tokenize, run), so one command records what
the pipeline is worth on that device. The model is whatever directory the caller passes
(``filter-engine bench`` builds a MiniLM-L6-shaped one).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from engine.bench import corpus
from engine.classify.classifier import Classifier
from engine.classify.transformer import TransformerBackend
from engine.errors import fail


def documents(count: int, seed: int = 7) -> pa.Array:
    """``count`` generated documents of ~3 KB (log-normal lengths)."""
    docs = corpus.make_corpus(count * 3000, seed)
    return docs.slice(0, min(count, len(docs)))


class GpuBusy:
    """``nvidia-smi`` utilization samples (every 100 ms) while a ``with`` block runs."""

    def __init__(self, device: str):
        self.command = shutil.which("nvidia-smi") if device == "cuda" else None
        self.samples: list[int] = []

    def __enter__(self) -> GpuBusy:
        if self.command:
            self.process = subprocess.Popen(
                [self.command, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-i", "0", "-lms", "100"], stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.command:
            self.process.terminate()
            out, _ = self.process.communicate()
            self.samples = [int(x) for x in out.split() if x.isdigit()]

    @property
    def fraction(self) -> float | None:
        """Mean utilization in [0, 1]; ``None`` off CUDA or without ``nvidia-smi``."""
        return busy_fraction(self.samples)


def busy_fraction(samples: list[int]) -> float | None:
    """Mean of utilization samples (percent) in [0, 1]; ``None`` without samples."""
    return round(sum(samples) / len(samples) / 100, 3) if samples else None


def measure(model_dir: Path, device: str, docs: pa.Array, threads: int = 1,
            repeats: int = 1, step_chars: int = 0) -> dict:
    """One warm-up call, then ``repeats`` rounds of two timed ``score`` calls over
    ``docs``, prefetch on then off (``sequential_*``); medians. ``tokenize_s`` is the time
    tokenizing alone takes: the most the pipeline can hide; ``caller_cpu_s`` the CPU time
    of the calling thread, the one that feeds the session (with prefetch, the tokenizing
    moves off it, whether or not a free core lets the wall clock show it);
    ``prefetch_default`` what the card chose for this device.

    Args:
        step_chars: characters per pipeline step (0: the card's).
    """
    clf = Classifier.load(model_dir, device=device, threads=threads)
    backend = clf._backend
    if not isinstance(backend, TransformerBackend):
        raise fail("E001", argument="--model", problem=f"'{model_dir}' is a {clf.kind!r} "
                   "model; bench --device times transformer models")
    backend.step_chars = step_chars or backend.step_chars
    texts = docs.to_pylist()
    tokenize_s = time.perf_counter()
    windows = len(backend.windows(texts)[0])
    tokenize_s = time.perf_counter() - tokenize_s
    cap = backend.spec["max_chars"]
    steps = len(backend.steps(np.array([min(len(t), cap) for t in texts], np.int64)))
    clf.score(docs.slice(0, 8))
    spec = backend.spec
    out = {"device": device, "max_length": spec["max_length"], "stride": spec["stride"],
           "max_windows": spec["max_windows"], "token_budget": spec["token_budget"],
           "docs": len(docs), "windows": windows, "steps": steps,
           "step_chars": backend.step_chars, "tokenize_s": round(tokenize_s, 3),
           "prefetch_default": backend.prefetch}
    modes = {"": True, "sequential_": False}
    walls: dict[str, list[float]] = {prefix: [] for prefix in modes}
    cpus: dict[str, list[float]] = {prefix: [] for prefix in modes}
    callers: dict[str, list[float]] = {prefix: [] for prefix in modes}
    samples: dict[str, list[int]] = {prefix: [] for prefix in modes}
    for _ in range(repeats):  # alternating, so that drift on a shared host hits both
        for prefix, prefetch in modes.items():
            backend.prefetch = prefetch
            with GpuBusy(device) as busy:
                wall, cpu, caller = time.perf_counter(), time.process_time(), time.thread_time()
                clf.score(docs)
                walls[prefix].append(time.perf_counter() - wall)
                cpus[prefix].append(time.process_time() - cpu)
                callers[prefix].append(time.thread_time() - caller)
            samples[prefix].extend(busy.samples)
    for prefix in modes:
        wall = statistics.median(walls[prefix])
        out.update({f"{prefix}seconds": round(wall, 3),
                    f"{prefix}docs_s": round(len(docs) / wall, 2),
                    f"{prefix}windows_s": round(windows / wall, 1),
                    f"{prefix}cpu_s": round(statistics.median(cpus[prefix]), 3),
                    f"{prefix}caller_cpu_s": round(statistics.median(callers[prefix]), 3),
                    f"{prefix}gpu_busy": busy_fraction(samples[prefix])})
    return out


def format_results(results: list[dict]) -> str:
    """A table: each row with prefetch on, then (``seq``) off; which is the default."""
    lines = ["device  max_length  windows/doc  steps  docs/s  windows/s  gpu busy  "
             "seq docs/s  seq gpu busy"]
    for r in results:
        busy, seq_busy = ("-" if b is None else f"{b:.0%}"
                          for b in (r["gpu_busy"], r["sequential_gpu_busy"]))
        lines.append(f"{r['device']:>6}  {r['max_length']:>10}  "
                     f"{r['windows'] / r['docs']:>11.2f}  {r['steps']:>5}  "
                     f"{r['docs_s']:>6.1f}  {r['windows_s']:>9.1f}  {busy:>8}  "
                     f"{r['sequential_docs_s']:>10.1f}  {seq_busy:>12}")
    defaults = sorted({"on" if r["prefetch_default"] else "off" for r in results})
    lines.append(f"docs/s: prefetch on; seq: off; the card default here: {'/'.join(defaults)}")
    return "\n".join(lines)
