"""Train ``models/hazard-cyber``: the default filter's cyber classifier stage.

A bag-of-n-grams model (``filter-engine train``: words and hashed word bigrams, one linear
layer) that tells ATT&CK's attack text from benign and defensive text.
It sees only the reference set's ``tune`` split, and none of the sources whose documents
measure held-out recall, so the default filter's held-out figures stay held out:

- ``hazard``: ``cyber`` rows of the list source (ATT&CK: techniques, software, groups,
  campaigns, tactics and procedure examples);
- ``other``: ``benign``, ``security_defense`` and ``dual_use`` rows of every source that is
  not a held-out hazard source: Debian package descriptions (security tools included),
  Python's documentation, fortunes, V.E.R.A., the Devil's Dictionary, the elements,
  CWE weaknesses, ATT&CK mitigations and detections. A negative row in which the default
  filter's blocklist finds a term (a row the stage can be asked to score) counts
  ``HARD_COPIES`` times.

Left out entirely, whatever their label: ``nmap``, ``pytm``, ``sqlmap``, ``foldoc``,
``jargon`` (held-out cyber sources), ``wordnet`` and ``gcide`` (held-out CBRN and cyber).

    python benchmarks/quality/train_hazard_classifier.py      # writes models/hazard-cyber

Needs ``benchmarks/quality/data/reference.parquet`` (``build_reference.py``). The training
table is written to ``benchmarks/quality/data/hazard-train.parquet`` (git-ignored); the
model card's provenance records its sha256 and the exact ``filter-engine train`` command.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REFERENCE = HERE / "data" / "reference.parquet"
TRAIN_FILE = HERE / "data" / "hazard-train.parquet"
OUT = ROOT / "models" / "hazard-cyber"
DEFAULT_FILTER = ROOT / "models" / "default-filter.toml"

#: Sources whose documents measure held-out recall (LABELS.md); never trained on.
HELD_OUT_SOURCES = ("nmap", "pytm", "sqlmap", "foldoc", "jargon", "wordnet", "gcide")
NEGATIVE_LABELS = ("benign", "security_defense", "dual_use")
SEED = 0
#: Copies of each negative row in which the blocklist finds a term (the rows the stage
#: will see): the model's errors there are the ones that cost benign removals.
HARD_COPIES = 5
LICENCE = ("derived from MITRE ATT&CK and CWE (MITRE terms of use), Debian package "
           "descriptions, fortunes and dictionaries (their packages' licences) and Python's "
           "documentation (PSF)")
#: ``filter-engine train`` settings (chosen on the tune split: character n-grams, fewer
#: ATT&CK procedure examples and 20 copies of hard negatives did no better there; see
#: models/hazard-cyber/README.md).
TRAIN_ARGS = ["--word-ngrams", "2", "--minn", "0", "--maxn", "0", "--bucket", "131072",
              "--dim", "16", "--epochs", "5", "--lr", "0.5", "--min-count", "3",
              "--threshold", "0.5", "--valid-fraction", "0.2", "--seed", str(SEED)]


def escalated_rows(texts: pa.ChunkedArray) -> np.ndarray:
    """Rows in which the default filter's blocklist finds at least one term: the rows the
    classifier stage runs on, so the only ones it has to tell apart."""
    from engine.filter.spec import FilterSpec
    from engine.match.matcher import Matcher

    with open(DEFAULT_FILTER, "rb") as fh:
        blocklists = tomllib.load(fh)["blocklist"]
    spec = FilterSpec.from_dict({"blocklist": blocklists, "drop_if": "hazard.count >= 1"},
                                base_dir=DEFAULT_FILTER.parent)
    (lists,) = spec.blocklists
    matcher = Matcher.from_files(lists.files, ignore_case=lists.ignore_case,
                                 whole_words=lists.whole_words, normalize=lists.normalize)
    return np.asarray(matcher.scan(texts.combine_chunks()).total) >= 1


def training_table(reference: Path = REFERENCE) -> pa.Table:
    """``text, label`` rows (``hazard`` / ``other``) from the tune split, held-out sources
    excluded, in a seeded order."""
    table = pq.read_table(reference, columns=["text", "label", "source",
                                              "list_source", "split"])
    table = table.filter(pc.equal(table["split"], "tune"))
    table = table.filter(pc.invert(pc.is_in(table["source"],
                                            pa.array(HELD_OUT_SOURCES))))
    label = table["label"].to_numpy(False)
    listed = table["list_source"].to_numpy(False)
    positive = (label == "cyber") & listed
    negative = np.isin(label, NEGATIVE_LABELS)
    copies = np.ones(table.num_rows, np.int64)
    copies[negative & escalated_rows(table["text"])] = HARD_COPIES
    rows = np.repeat(np.arange(table.num_rows), copies)
    rows = rows[(positive | negative)[rows]]
    rows = rows[np.random.default_rng(SEED).permutation(len(rows))]
    labels = np.where(positive[rows], "hazard", "other")
    return pa.table({"text": table["text"].take(pa.array(rows)),
                     "label": pa.array(labels, pa.string())})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    table = training_table(args.reference)
    TRAIN_FILE.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, TRAIN_FILE)
    counts = dict(zip(*np.unique(table["label"].to_numpy(False), return_counts=True),
                      strict=True))
    print(f"training rows: {table.num_rows} {counts}")
    source = ("the filter-engine reference set's tune split (benchmarks/quality): ATT&CK "
              "cyber rows (hazard) vs benign, defensive and dual-use rows of the sources "
              f"that are not held out (other); left out: {', '.join(HELD_OUT_SOURCES)}")
    command = [sys.executable, "-m", "engine", "train", str(TRAIN_FILE),
               "-o", str(args.out), "--score-label", "hazard", "--name", "hazard-cyber",
               "--data-source", source, "--licence", LICENCE,
               "--rebuild", "python benchmarks/quality/train_hazard_classifier.py",
               *TRAIN_ARGS]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
