"""Sections of Python's HTML documentation (Debian ``python3.X-doc``): all benign.

One document is the text directly inside one Sphinx ``<section>`` (nested sections are their own
documents), taken from the page's main body only, so navigation and footers never repeat.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from .doc import Doc

_SKIP = {"script", "style"}
# Pages that only list other pages (a table of contents is not prose).
_INDEX_PAGES = {"search.html", "py-modindex.html", "contents.html"}
_WS = re.compile(r"[ \t\r\f\v]+")


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[list] = []  # [section id, text parts]
        self.done: list[tuple[str, str]] = []
        self.body_depth = 0  # >0 while inside <div class="body">
        self.div_depth = 0
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div":
            self.div_depth += 1
            if self.body_depth == 0 and a.get("role") == "main":
                self.body_depth = self.div_depth
        if not self.body_depth:
            return
        if tag in _SKIP or (tag == "a" and a.get("class") == "headerlink"):
            self.skip += 1
        elif tag == "section":
            self.stack.append([a.get("id") or f"s{len(self.done)}", []])
        elif tag in {"p", "div", "li", "dt", "dd", "pre", "h1", "h2", "h3", "h4", "tr", "br"}:
            self._emit("\n")

    def handle_endtag(self, tag):
        if tag == "div":
            if self.body_depth == self.div_depth:
                self.body_depth = 0
            self.div_depth -= 1
            return
        if not self.body_depth:
            return
        if tag in _SKIP or (tag == "a" and self.skip):
            self.skip = max(0, self.skip - 1)
        elif tag == "section" and self.stack:
            sid, parts = self.stack.pop()
            self.done.append((sid, "".join(parts)))

    def handle_data(self, data):
        if self.body_depth and not self.skip:
            self._emit(data)

    def _emit(self, text):
        if self.stack:
            self.stack[-1][1].append(text)


def _clean(text: str) -> str:
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def docs(html_dir: Path) -> Iterator[Doc]:
    """Yield one benign document per section of every page under ``html_dir``."""
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir).as_posix()
        if rel.startswith(("_", "genindex")) or rel in _INDEX_PAGES:
            continue
        parser = _Sections()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        area = rel.split("/")[0] if "/" in rel else "top"
        for sid, raw in parser.done:
            text = _clean(raw)
            if len(text) >= 20:
                yield Doc(f"pydoc:{rel}#{sid}", text, "benign", area, "pydoc")
