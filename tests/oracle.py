"""Naive pure-Python matcher: the oracle for the compiled kernel.

It implements the documented semantics literally: transform text and patterns
(NFKC, then ``str.lower``), find every overlapping occurrence with ``str.find``, keep
those whose neighbours are an edge or not ``str.isalnum()``.
"""

from __future__ import annotations

import unicodedata


def transform(text: str, ignore_case: bool, nfkc: bool) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    return text.lower() if ignore_case else text


def unique_patterns(patterns, ignore_case: bool, nfkc: bool) -> list[str]:
    """Transformed patterns, duplicates merged, in first-seen order (= pattern ids)."""
    seen = {}
    for p in patterns:
        seen.setdefault(transform(p, ignore_case, nfkc), len(seen))
    return list(seen)


def occurrences(keys: list[str], text: str, ignore_case=True, whole_words=True, nfkc=False):
    """``(pattern_id, start, end)`` character positions in the transformed text."""
    t = transform(text, ignore_case, nfkc)
    found = []
    for pid, key in enumerate(keys):
        start = t.find(key)
        while start != -1:
            end = start + len(key)
            before_ok = start == 0 or not t[start - 1].isalnum()
            after_ok = end == len(t) or not t[end].isalnum()
            if not whole_words or (before_ok and after_ok):
                found.append((pid, start, end))
            start = t.find(key, start + 1)
    return found


def counts(patterns, texts, ignore_case=True, whole_words=True, nfkc=False) -> list[int]:
    keys = unique_patterns(patterns, ignore_case, nfkc)
    return [
        0 if text is None else len(occurrences(keys, text, ignore_case, whole_words, nfkc))
        for text in texts
    ]


def byte_spans(patterns, texts, whole_words=True) -> list[tuple[int, int, int, int]]:
    """``(row, start_byte, end_byte, pattern_id)`` in the original UTF-8, ignore_case.

    Each original character owns the characters its own lowering produces (capital
    sigma always lowers to one character, final or not, so the context does not move
    positions).
    """
    keys = unique_patterns(patterns, True, False)
    spans = []
    for row, text in enumerate(texts):
        if text is None:
            continue
        owner = []  # lowered char index -> original char index
        for i, ch in enumerate(text):
            owner.extend([i] * len(ch.lower()))
        byte_at = [0]
        for ch in text:
            byte_at.append(byte_at[-1] + len(ch.encode()))
        for pid, start, end in occurrences(keys, text, True, whole_words):
            spans.append((row, byte_at[owner[start]], byte_at[owner[end - 1] + 1], pid))
    return sorted(spans)
