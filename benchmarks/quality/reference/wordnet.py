"""WordNet 3.0 as shipped in Debian's ``wordnet-base``: synsets, lemmas, glosses and pointers.

The reference set takes its hazard labels from WordNet's hypernym taxonomy, so this module
reads the ``data.*`` files directly (no nltk) and exposes the two things the labels need:
every synset with its hypernyms (class and instance), and every lemma's senses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

POS_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
# Pointer symbols that go "up" the taxonomy: hypernym and instance hypernym.
UP = {"@", "@i"}


@dataclass
class Synset:
    """One WordNet synset: ``key`` is ``pos:offset`` (stable across parses of one release)."""

    key: str
    pos: str
    lexname: int
    lemmas: list[str]
    gloss: str
    up: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)


def _parse_line(line: str, pos: str) -> Synset:
    head, _, gloss = line.partition(" | ")
    parts = head.split()
    offset, lexname, n_words = parts[0], int(parts[1]), int(parts[3], 16)
    lemmas = [parts[4 + 2 * i] for i in range(n_words)]
    i = 4 + 2 * n_words
    n_ptr = int(parts[i])
    i += 1
    up: list[str] = []
    domains: list[str] = []
    meronyms: list[str] = []
    for _ in range(n_ptr):
        sym, target, tpos = parts[i], parts[i + 1], parts[i + 2]
        tpos = "a" if tpos == "s" else tpos
        i += 4
        if sym in UP:
            up.append(f"{tpos}:{target}")
        elif sym.startswith(";"):
            domains.append(f"{tpos}:{target}")
        elif sym == "%p":  # part meronym: ``target`` is a part of this synset
            meronyms.append(f"{tpos}:{target}")
    # Adjective lemmas carry syntactic markers like "(p)"; drop them.
    lemmas = [lem.split("(")[0] for lem in lemmas]
    return Synset(f"{pos}:{offset}", pos, lexname, lemmas, gloss.strip(), up, domains, meronyms)


def load(wordnet_dir: Path) -> dict[str, Synset]:
    """Read every synset of the four ``data.*`` files under ``wordnet_dir``."""
    synsets: dict[str, Synset] = {}
    for pos, name in POS_FILES.items():
        with open(wordnet_dir / name, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("  "):  # licence header
                    continue
                syn = _parse_line(line.rstrip("\n"), pos)
                synsets[syn.key] = syn
    return synsets


def closure(synsets: dict[str, Synset], key: str) -> set[str]:
    """Synsets reachable from ``key`` by hypernym / instance-hypernym links, ``key`` included."""
    seen = {key}
    stack = [key]
    while stack:
        for parent in synsets[stack.pop()].up:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def find(synsets: dict[str, Synset], lemma: str, pos: str = "n") -> list[str]:
    """Keys of the synsets of part of speech ``pos`` that contain ``lemma`` (WordNet spelling)."""
    return [s.key for s in synsets.values() if s.pos == pos and lemma in s.lemmas]


def senses(synsets: dict[str, Synset]) -> dict[str, list[str]]:
    """Lemma as WordNet spells it (``_`` as space) -> keys of its synsets, every part of speech."""
    out: dict[str, list[str]] = {}
    for syn in synsets.values():
        for lem in syn.lemmas:
            out.setdefault(lem.replace("_", " "), []).append(syn.key)
    return out
