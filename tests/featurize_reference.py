"""A naive pure-Python transcription of fastText's ``Dictionary::getLine`` (the oracle).

Written for reading, not speed: it follows fastText 0.9.2's ``readWord``,
``computeSubwords`` and ``addWordNgrams`` line by line, so the Cython kernel in
``engine._featurize`` can be property-tested against it.
"""

from __future__ import annotations

SPACES = b" \n\r\t\v\f\x00"
EOS = b"</s>"


def fnv1a(data: bytes) -> int:
    """FNV-1a over bytes sign-extended to int8 (fastText's ``Dictionary::hash``)."""
    h = 2166136261
    for byte in data:
        signed = byte - 256 if byte >= 128 else byte
        h = ((h ^ (signed & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return h


def to_int32(h: int) -> int:
    return h - (1 << 32) if h >= (1 << 31) else h


def tokens(text: bytes) -> list[bytes]:
    """Whitespace tokens of one document, then EOS (a newline separates like a space)."""
    out, word = [], b""
    for byte in text:
        if byte in SPACES:
            if word:
                out.append(word)
                word = b""
        else:
            word += bytes([byte])
    if word:
        out.append(word)
    return out + [EOS]


def char_ngrams(word: bytes, minn: int, maxn: int, nwords: int, bucket: int) -> list[int]:
    """computeSubwords: code-point n-grams of ``<word>``, skipping lone ``<`` and ``>``."""
    w = b"<" + word + b">"
    ids = []
    for i in range(len(w)):
        if w[i] & 0xC0 == 0x80:
            continue
        ngram = b""
        j, n = i, 1
        while j < len(w) and n <= maxn:
            ngram += w[j : j + 1]
            j += 1
            while j < len(w) and w[j] & 0xC0 == 0x80:
                ngram += w[j : j + 1]
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == len(w))):
                ids.append(nwords + fnv1a(ngram) % bucket)
            n += 1
    return ids


def reference_ids(
    text: bytes,
    vocab: dict[bytes, int],
    bucket: int,
    word_ngrams: int,
    minn: int,
    maxn: int,
    label_prefix: bytes = b"__label__",
    eos_stops: bool = True,
) -> list[int]:
    """The ids fastText's getLine gives for ``text`` (one document, newline = space).

    ``eos_stops=False``: a literal ``</s>`` is an ordinary token and reading goes on.
    """
    nwords = len(vocab)
    ids: list[int] = []
    hashes: list[int] = []
    for token in tokens(text):
        if label_prefix and token.startswith(label_prefix):
            continue
        wid = vocab.get(token, -1)
        if wid >= 0:
            ids.append(wid)
        if maxn > 0 and token != EOS:
            ids.extend(char_ngrams(token, minn, maxn, nwords, bucket))
        hashes.append(to_int32(fnv1a(token)))
        if token == EOS and eos_stops:
            break
    mask = (1 << 64) - 1
    for i in range(len(hashes)):
        h = hashes[i] & mask
        for j in range(i + 1, min(len(hashes), i + word_ngrams)):
            h = (h * 116049371 + (hashes[j] & mask)) & mask
            ids.append(nwords + h % bucket)
    return ids
