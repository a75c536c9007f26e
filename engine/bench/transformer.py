"""The transformer benchmark behind ``filter-engine bench --device``.

Times ``Classifier.score`` on generated documents (``corpus.make_corpus``, log-normal
lengths around 3 KB) with a transformer model directory at each window size: docs/s,
windows/s (every window of ``max_length`` tokens the model ran), and on CUDA the GPU busy
fraction, sampled from ``nvidia-smi`` while the timed run lasts. The model is whatever
directory the caller passes (``filter-engine bench`` builds a MiniLM-L6-shaped one).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

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
        return round(sum(self.samples) / len(self.samples) / 100, 3) if self.samples else None


def measure(model_dir: Path, device: str, docs: pa.Array, threads: int = 1) -> dict:
    """One warm-up call, then one timed ``score`` over ``docs``."""
    clf = Classifier.load(model_dir, device=device, threads=threads)
    backend = clf._backend
    if not isinstance(backend, TransformerBackend):
        raise fail("E001", argument="--model", problem=f"'{model_dir}' is a {clf.kind!r} "
                   "model; bench --device times transformer models")
    windows = len(backend.windows(docs.to_pylist())[0])
    clf.score(docs.slice(0, 8))
    with GpuBusy(device) as busy:
        wall, cpu = time.perf_counter(), time.process_time()
        clf.score(docs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    spec = backend.spec
    return {"device": device, "max_length": spec["max_length"], "stride": spec["stride"],
            "max_windows": spec["max_windows"], "token_budget": spec["token_budget"],
            "docs": len(docs), "windows": windows, "seconds": round(wall, 3),
            "docs_s": round(len(docs) / wall, 1), "windows_s": round(windows / wall, 1),
            "cpu_s": round(cpu, 3), "gpu_busy": busy.fraction}


def format_results(results: list[dict]) -> str:
    lines = ["device  max_length  windows/doc  docs/s  windows/s  gpu busy"]
    for r in results:
        busy = "-" if r["gpu_busy"] is None else f"{r['gpu_busy']:.0%}"
        lines.append(f"{r['device']:>6}  {r['max_length']:>10}  "
                     f"{r['windows'] / r['docs']:>11.2f}  {r['docs_s']:>6.1f}  "
                     f"{r['windows_s']:>9.1f}  {busy:>8}")
    return "\n".join(lines)
