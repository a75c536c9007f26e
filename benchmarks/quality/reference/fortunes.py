"""Fortune cookies from Debian's ``fortunes*`` packages: one cookie per document, all benign."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .doc import Doc


def docs(fortune_dir: Path) -> Iterator[Doc]:
    """Yield every cookie of every strfile database (a file with a ``.dat`` index beside it)."""
    for dat in sorted(fortune_dir.rglob("*.dat")):
        path = dat.with_suffix("")
        if not path.is_file():
            continue
        rel = path.relative_to(fortune_dir).as_posix()
        raw = path.read_bytes().decode("utf-8", errors="replace")
        for i, cookie in enumerate(raw.split("\n%\n")):
            text = cookie.strip().strip("%").strip()
            if text:
                category = rel.split("/")[-1]
                yield Doc(f"fortune:{rel}:{i}", text, "benign", category, "fortune")
