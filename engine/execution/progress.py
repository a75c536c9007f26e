"""Progress display: a live bar on a terminal, plain log lines otherwise.

It listens to the run's events (``plan``, ``start``, ``done``, ``retry``, ``failed``) and
shows shards done, rows, input MB/s and an ETA from the input bytes still to go.
"""

from __future__ import annotations

import sys
import time
from collections import Counter


class Progress:
    """Render run progress to ``stream`` (stderr by default).

    Args:
        shards: the shards this invocation will process (or later, a ``plan`` event).
        live: a redrawn bar (True) or one log line per event (False); None: a bar when
            ``stream`` is a terminal.
    """

    def __init__(self, shards=(), stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self._plan(shards)
        self.done = 0
        self.rows = 0
        self.bytes_done = 0
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, kind: str, rel: str, detail) -> None:
        if kind == "plan":  # the shards left to do once finished ones are skipped
            self._plan(detail)
            return
        if kind == "done":
            self.done += 1
            self.rows += detail.get("rows_in") or 0
            self.bytes_done += self.sizes.get(rel, 0)
        if self.live:
            if kind in ("retry", "failed"):
                self._line(f"{kind}: {rel}: {detail}")
            self._draw(force=kind == "done" and self.done == self.total)
        elif kind == "done":
            self._line(f"[{self.done}/{self.total}] {rel}: {detail['status']}, "
                       f"{detail['kept']:,} kept, {detail['removed']:,} removed, "
                       f"{detail['unreadable']:,} unreadable ({self._rate()})")
        elif kind in ("retry", "failed"):
            self._line(f"{kind}: {rel}: {detail}")

    def _plan(self, shards) -> None:
        parts = Counter(s.rel for s in shards)  # a split file's bytes shared by its units
        self.sizes = {s.unit: max(s.size, 0) / parts[s.rel] for s in shards}
        self.total_bytes = sum(self.sizes.values()) or 1
        self.total = len(shards)

    def _rate(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes_done / elapsed
        left = (self.total_bytes - self.bytes_done) / rate if rate else float("inf")
        eta = f"{int(left // 60)}:{int(left % 60):02d}" if left != float("inf") else "?"
        return f"{rate / 1e6:.1f} MB/s, ETA {eta}"

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.2:
            return
        self._drawn = now
        width = 30
        filled = int(width * self.bytes_done / self.total_bytes)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} shards  {self.rows:,} rows  "
                          f"{self._rate()}   ")
        self.stream.flush()

    def _line(self, text: str) -> None:
        if self.live:
            self.stream.write("\r" + " " * 100 + "\r")
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
