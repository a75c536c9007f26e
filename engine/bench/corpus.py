"""Seeded synthetic corpus and pattern sets for the matcher, classifier and pipeline benchmarks.

Follows the "Data" section of ``shared/research/matcher-baselines.md`` so that our numbers
can be set beside the peer baselines measured there:

* ``make_corpus``: English words drawn by their wordfreq frequency (top 50k), 88 / 10 / 2 %
  lower / Capitalised / UPPER, 24 separators (mostly a space), 1.5 % German, Russian or
  Chinese words inside English documents, 6 % of documents mostly German, Russian or
  Chinese (multi-byte UTF-8), log-normal lengths (sigma 1, mean 3 KB, median ~1.8 KB)
  clipped to [80 B, 200 KB].
* ``make_patterns``: nested lower-case ASCII pattern sets (``make_patterns(100)`` is a
  prefix of ``make_patterns(1000)``): 50 % single words from ranks 3,000-120,000 (length
  >= 3), 50 % phrases of 2-4 words from ranks 150-20,000, half of the phrases with one of
  the top-150 words (mostly function words) in them.

Generation is vectorised with NumPy: the text is gathered from one byte table of every
word form and separator and handed to Arrow as raw offsets + data buffers, so 20 MB takes
a few seconds or less. The output depends only on the arguments: the word lists ship in
``vocab.tsv.gz`` (a wordfreq subset, CC BY-SA 4.0, rebuilt by ``benchmarks/build_vocab.py``)
so that ``filter-engine bench`` runs from a plain install and gives the same corpus
everywhere.
"""

from __future__ import annotations

import functools
import gzip
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

EN_VOCAB = 50_000
FOREIGN_VOCAB = 5_000
FOREIGN_LANGS = ("de", "ru", "zh")
CASE_PROBS = (0.88, 0.10, 0.02)  # lower, Capitalised, UPPER
FOREIGN_WORD_RATE = 0.015  # foreign words inside English documents
FOREIGN_DOC_RATE = 0.06  # documents mostly in a foreign language
FOREIGN_DOC_OWN_RATE = 0.9  # share of a foreign document's words in its own language
LEN_SIGMA = 1.0
LEN_MEAN = 3_000.0
LEN_MIN, LEN_MAX = 80, 200_000
# 24 separators with their weights; the empty string precedes each document's first word.
SEPARATORS = (
    (" ", 800), (", ", 60), (". ", 45), ("; ", 4), (": ", 4), ("! ", 3), ("? ", 3),
    ("-", 6), (" (", 3), (") ", 3), (' "', 2), ('" ', 2), ("'", 2), ("/", 2), ("_", 2),
    ("\n", 10), (".\n\n", 8), ("\n\n", 4), (" \u2014 ", 3), (" \u201c", 2),
    ("\u201d ", 2), ("\u2019", 2), (".\n", 4), (" - ", 3),
)
_CHUNK_BYTES = 8 << 20  # docs are generated in chunks of about this many bytes (memory)
_ASCII_WORD = re.compile(r"[a-z]+")
VOCAB_FILE = Path(__file__).with_name("vocab.tsv.gz")


@dataclass(frozen=True)
class _Vocab:
    """Every word form and separator as one UTF-8 byte table, plus sampling tables."""

    data: np.ndarray  # uint8, all entries back to back
    offsets: np.ndarray  # int64, entry i is data[offsets[i]:offsets[i + 1]]
    lang_base: tuple[int, ...]  # first entry id of each language (en, de, ru, zh)
    lang_size: tuple[int, ...]  # words per language (each has 3 case forms)
    lang_cdf: tuple[np.ndarray, ...]  # cumulative word probabilities per language
    sep_base: int  # entry id of the empty separator; real separators follow it
    sep_cdf: np.ndarray
    mean_pair_bytes: tuple[float, ...]  # expected bytes of (separator + word) per language


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, tuple[list[str], list[int]]]:
    """Words (most frequent first) and their centibel frequencies, per language."""
    table: dict[str, tuple[list[str], list[int]]] = {}
    with gzip.open(VOCAB_FILE, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                lang, word, cb = line.rstrip("\n").split("\t")
                words, cbs = table.setdefault(lang, ([], []))
                words.append(word)
                cbs.append(int(cb))
    return table


def _top_words(lang: str, n: int) -> list[str]:
    """``wordfreq.top_n_list(lang, n)`` as recorded in the shipped table."""
    words = _table()[lang][0]
    if n > len(words):
        raise ValueError(f"{VOCAB_FILE.name} holds {len(words)} {lang} words, not {n}")
    return words[:n]


def _word_list(lang: str, n: int) -> tuple[list[str], np.ndarray]:
    words = _top_words(lang, n)
    # the same float wordfreq.cB_to_freq gives, so the corpus matches wordfreq-drawn ones
    p = np.array([10 ** (-cb / 100) for cb in _table()[lang][1][:n]], dtype=np.float64)
    return words, p / p.sum()


@functools.lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    """Built once per process (reading the word table takes a fraction of a second)."""
    entries: list[bytes] = []
    bases, sizes, cdfs, word_bytes = [], [], [], []
    for lang, n in (("en", EN_VOCAB),) + tuple((lg, FOREIGN_VOCAB) for lg in FOREIGN_LANGS):
        words, p = _word_list(lang, n)
        bases.append(len(entries))
        sizes.append(len(words))
        cdfs.append(np.cumsum(p))
        forms = [words, [w.capitalize() for w in words], [w.upper() for w in words]]
        for form in forms:
            entries.extend(w.encode() for w in form)
        lens = np.array([len(w.encode()) for w in words], dtype=np.float64)
        word_bytes.append(float(lens @ p))
    sep_base = len(entries)
    entries.append(b"")
    entries.extend(s.encode() for s, _ in SEPARATORS)
    sep_w = np.array([w for _, w in SEPARATORS], dtype=np.float64)
    sep_p = sep_w / sep_w.sum()
    sep_bytes = float(np.array([len(s.encode()) for s, _ in SEPARATORS]) @ sep_p)
    lens = np.fromiter((len(e) for e in entries), dtype=np.int64, count=len(entries))
    offsets = np.zeros(len(entries) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    return _Vocab(
        data=np.frombuffer(b"".join(entries), dtype=np.uint8),
        offsets=offsets,
        lang_base=tuple(bases),
        lang_size=tuple(sizes),
        lang_cdf=tuple(cdfs),
        sep_base=sep_base,
        sep_cdf=np.cumsum(sep_p),
        mean_pair_bytes=tuple(b + sep_bytes for b in word_bytes),
    )


def _doc_lengths(rng: np.random.Generator, total_bytes: int) -> np.ndarray:
    """Log-normal target lengths whose sum is ``total_bytes`` (the last one trimmed)."""
    mu = math.log(LEN_MEAN) - LEN_SIGMA**2 / 2
    parts, have = [], 0
    while have < total_bytes:
        n = max(16, int((total_bytes - have) / LEN_MEAN * 1.1))
        draw = np.clip(rng.lognormal(mu, LEN_SIGMA, n), LEN_MIN, LEN_MAX).astype(np.int64)
        parts.append(draw)
        have += int(draw.sum())
    lengths = np.concatenate(parts)
    ends = np.cumsum(lengths)
    k = int(np.searchsorted(ends, total_bytes))  # first doc reaching the total
    lengths = lengths[: k + 1].copy()
    lengths[k] -= int(ends[k]) - total_bytes
    if lengths[k] < LEN_MIN and k > 0:  # fold a too-short tail into its neighbour
        lengths[k - 1] += lengths[k]
        lengths = lengths[:k]
    return lengths


def _make_chunk(rng: np.random.Generator, v: _Vocab, targets: np.ndarray) -> pa.StringArray:
    """Documents of about ``targets`` bytes each (cut after the word that reaches it)."""
    n_docs = len(targets)
    doc_lang = np.zeros(n_docs, dtype=np.int64)  # 0 = English
    foreign = rng.random(n_docs) < FOREIGN_DOC_RATE
    doc_lang[foreign] = rng.integers(1, 1 + len(FOREIGN_LANGS), int(foreign.sum()))
    pair_bytes = np.asarray(v.mean_pair_bytes)[doc_lang]
    # Overshoot, then cut: a document keeps the words whose running length fits its target.
    n_words = np.ceil(targets / pair_bytes * 1.5).astype(np.int64) + 8
    doc_of = np.repeat(np.arange(n_docs), n_words)
    total = len(doc_of)

    lang = doc_lang[doc_of]
    switch = rng.random(total)
    in_en = lang == 0
    to_foreign = in_en & (switch < FOREIGN_WORD_RATE)
    lang[to_foreign] = rng.integers(1, 1 + len(FOREIGN_LANGS), int(to_foreign.sum()))
    lang[~in_en & (switch >= FOREIGN_DOC_OWN_RATE)] = 0

    word = np.empty(total, dtype=np.int64)
    u = rng.random(total)
    for li, cdf in enumerate(v.lang_cdf):
        sel = lang == li
        idx = np.minimum(np.searchsorted(cdf, u[sel] * cdf[-1]), len(cdf) - 1)
        word[sel] = idx + np.asarray(v.lang_base)[li]
    case = np.searchsorted(np.cumsum(CASE_PROBS), rng.random(total) * sum(CASE_PROBS))
    word += case * np.asarray(v.lang_size)[lang]

    sep = v.sep_base + 1 + np.searchsorted(v.sep_cdf, rng.random(total) * v.sep_cdf[-1])
    sep = np.minimum(sep, len(v.offsets) - 2)
    starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(n_words[:-1], out=starts[1:])
    sep[starts] = v.sep_base  # no separator before a document's first word

    entry_len = np.diff(v.offsets)
    pair_len = entry_len[sep] + entry_len[word]
    running = np.cumsum(pair_len)
    before_doc = np.repeat(running[starts] - pair_len[starts], n_words)
    # A document ends with the word that reaches its target: never under LEN_MIN, and
    # the target is lowered by the longest (separator + word) so it stays under LEN_MAX.
    limit = np.minimum(targets, LEN_MAX - 2 * int(entry_len.max()))[doc_of]
    keep = (running - pair_len - before_doc) < limit

    ids = np.stack([sep[keep], word[keep]], axis=1).ravel()
    kept_per_doc = np.bincount(doc_of[keep], minlength=n_docs)
    lens = entry_len[ids]
    doc_bytes = np.add.reduceat(lens.reshape(-1, 2).sum(axis=1), _starts(kept_per_doc))
    out_off = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lens, out=out_off[1:])
    gather = np.arange(int(out_off[-1]), dtype=np.int64) + np.repeat(
        v.offsets[ids] - out_off[:-1], lens
    )
    data = v.data[gather]
    offsets = np.zeros(n_docs + 1, dtype=np.int32)
    np.cumsum(doc_bytes, out=offsets[1:])
    return pa.StringArray.from_buffers(
        n_docs, pa.py_buffer(offsets), pa.py_buffer(data)
    )


def _starts(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=out[1:])
    return out


def make_corpus(total_bytes: int, seed: int = 1234) -> pa.StringArray:
    """A synthetic English-heavy corpus of about ``total_bytes`` UTF-8 bytes.

    Args:
        total_bytes: target size of the text; documents end at a word boundary, so the
            result is slightly larger (at most one word per document).
        seed: NumPy seed; the same (total_bytes, seed) gives the same array.

    Returns:
        A ``pyarrow.StringArray``, one document per element, no nulls.
    """
    if total_bytes < LEN_MIN:
        raise ValueError(f"total_bytes must be at least {LEN_MIN}, got {total_bytes}")
    v = _vocab()
    rng = np.random.default_rng(seed)
    targets = _doc_lengths(rng, int(total_bytes))
    chunks, start = [], 0
    ends = np.cumsum(targets)
    while start < len(targets):
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] + _CHUNK_BYTES)))
        chunks.append(_make_chunk(rng, v, targets[start:stop]))
        start = stop
    return chunks[0] if len(chunks) == 1 else pa.concat_arrays(chunks)


@functools.lru_cache(maxsize=4)
def _pattern_sequence(seed: int) -> tuple[str, ...]:
    """The full ordered pattern sequence for ``seed``; every set is a prefix of it."""
    en = _top_words("en", 120_000)
    singles = [w for w in en[3_000:120_000] if len(w) >= 3 and _ASCII_WORD.fullmatch(w)]
    phrase_words = [w for w in en[150:20_000] if _ASCII_WORD.fullmatch(w)]
    function_words = [w for w in en[:150] if _ASCII_WORD.fullmatch(w)]
    rng = np.random.default_rng(seed)
    single_order = rng.permutation(len(singles))
    n_phrases = len(single_order)  # as many phrase slots as single slots
    sizes = rng.integers(2, 5, n_phrases)
    words = rng.integers(0, len(phrase_words), (n_phrases, 4))
    with_function = rng.random(n_phrases) < 0.5
    function_pos = rng.integers(0, 4, n_phrases) % sizes
    function_pick = rng.integers(0, len(function_words), n_phrases)

    out: list[str] = []
    seen: set[str] = set()
    for i in range(n_phrases):
        parts = [phrase_words[j] for j in words[i, : sizes[i]]]
        if with_function[i]:
            parts[function_pos[i]] = function_words[function_pick[i]]
        for pattern in (singles[single_order[i]], " ".join(parts)):
            if pattern not in seen:
                seen.add(pattern)
                out.append(pattern)
    return tuple(out)


def make_patterns(n: int, seed: int = 42) -> list[str]:
    """``n`` distinct lower-case ASCII patterns; smaller sets are prefixes of larger ones.

    Args:
        n: how many patterns (at most about 200,000).
        seed: NumPy seed of the whole nested sequence.

    Returns:
        A list of ``n`` unique strings, alternating single words and 2-4 word phrases.
    """
    seq = _pattern_sequence(seed)
    if not 0 <= n <= len(seq):
        raise ValueError(f"n must be in [0, {len(seq)}], got {n}")
    return list(seq[:n])


def write_corpus_parquet(
    path: str | Path, total_bytes: int, seed: int = 1234, row_group_size: int = 8192
) -> Path:
    """Write ``make_corpus(total_bytes, seed)`` as a zstd Parquet shard (``id``, ``text``).

    Args:
        path: output file; its parent directory must exist.
        total_bytes: text size, as for ``make_corpus``.
        seed: as for ``make_corpus``.
        row_group_size: documents per row group (8,192 as in the baselines).

    Returns:
        The path written.
    """
    import pyarrow.parquet as pq

    text = make_corpus(total_bytes, seed)
    ids = pa.array([f"{seed}-{i:08d}" for i in range(len(text))], type=pa.string())
    table = pa.table({"id": ids, "text": text})
    path = Path(path)
    pq.write_table(table, path, compression="zstd", row_group_size=row_group_size)
    return path
