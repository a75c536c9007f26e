"""Rebuild ``engine/bench/vocab.tsv.gz`` (the benchmark corpus vocabulary) from wordfreq.

The corpus generator ships this table so that ``filter-engine bench`` runs from a plain
install without wordfreq. It holds exactly what ``engine/bench/corpus.py`` reads: wordfreq's
English top 120,000 words (50,000 for text, up to rank 120,000 for patterns) and the
German, Russian and Chinese top 5,000, each with wordfreq's centibel frequency, in
wordfreq's order. The output is byte-for-byte reproducible for a given wordfreq version.

    pip install -e '.[bench]' && python benchmarks/build_vocab.py
"""

from __future__ import annotations

import gzip
import io
from importlib.metadata import version
from pathlib import Path

import wordfreq

OUT = Path(__file__).resolve().parent.parent / "engine" / "bench" / "vocab.tsv.gz"
#: (language, words kept); the English list reaches the deepest pattern rank.
LISTS = (("en", 120_000), ("de", 5_000), ("ru", 5_000), ("zh", 5_000))
VERSION = version("wordfreq")
HEADER = f"""\
# Word frequencies for engine/bench/corpus.py, taken from wordfreq {VERSION}
# (Robyn Speer, https://github.com/rspeer/wordfreq, doi:10.5281/zenodo.7199437):
# the "best" wordlists, top_n_list() order, {", ".join(f"{lg} top {n}" for lg, n in LISTS)}.
# wordfreq's data is licensed CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/)
# and derives from Wikipedia, OPUS OpenSubtitles 2018, SUBTLEX (Brysbaert et al.),
# Google Books Ngrams, the Leeds Internet Corpus, ParaCrawl, Reddit and Twitter; see
# wordfreq's README for the full credits. This subset is shared under CC BY-SA 4.0.
# Regenerate: python benchmarks/build_vocab.py
# Columns: language, word, cB (frequency = 10 ** (-cB / 100), as wordfreq.cB_to_freq).
"""


def centibels(lang: str) -> dict[str, int]:
    """Each word's bucket as ``wordfreq.get_frequency_dict`` sees it (the last one wins)."""
    out = {}
    for index, bucket in enumerate(wordfreq.get_frequency_list(lang)):
        for word in bucket:
            out[word] = index
    return out


def build() -> bytes:
    text = io.StringIO()
    text.write(HEADER)
    for lang, n in LISTS:
        cb = centibels(lang)
        for word in wordfreq.top_n_list(lang, n):
            assert "\t" not in word and "\n" not in word, repr(word)
            text.write(f"{lang}\t{word}\t{cb[word]}\n")
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    return raw.getvalue()


if __name__ == "__main__":
    data = build()
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data):,} bytes)")
