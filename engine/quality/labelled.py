"""A labelled reference set read from Parquet, under canonical column names.

The reference set (``benchmarks/quality/``) has the columns ``id``, ``text``, ``label``,
``category``, ``source``, ``list_source`` and ``split``; other sets may name them
differently, so every name is an option (``Columns``). Only the text and label columns are
required; a set without ``category``, ``source`` or ``list_source`` is measured without
those breakdowns. The table returned always uses the canonical names, so the measuring
code never sees the user's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.errors import fail

#: Canonical names of the optional columns, in the order they are reported.
OPTIONAL = ("id", "category", "source", "list_source")


@dataclass(frozen=True)
class Columns:
    """The data's column names for each canonical column (``--<name>-column`` options)."""

    text: str = "text"
    label: str = "label"
    id: str = "id"
    category: str = "category"
    source: str = "source"
    list_source: str = "list_source"
    split: str = "split"


def read_labelled(paths: Sequence[str | Path], columns: Columns = Columns(),
                  split: str | None = None, exclude: Sequence[str] = ()) -> pa.Table:
    """The rows of one or more Parquet files, optionally one split, canonically named.

    Args:
        paths: Parquet files.
        columns: the data's names for the canonical columns.
        split: keep only rows whose split column equals this (None: every row).
        exclude: leave out rows with these labels (neither benign nor hazard, e.g. a
            label for text that is about security but not an attack).

    Returns:
        A table with ``text`` and ``label`` (as strings) and whichever of ``id``,
        ``category``, ``source``, ``list_source`` the files have.

    Raises:
        UsageError (E001): a file is missing, the text or label column is absent, a label
        is null, or ``split`` is given and the files have no split column or no such rows.
    """
    tables = []
    for path in paths:
        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowInvalid) as err:
            raise fail("E001", argument=str(path), problem=f"cannot read it as Parquet "
                       f"({err})") from err
        want = {canonical: getattr(columns, canonical) for canonical in
                ("text", "label", *OPTIONAL, "split")}
        for required in ("text", "label"):
            if want[required] not in names:
                raise fail("E001", argument=f"--{required}-column",
                           problem=f"{path} has no column {want[required]!r} (it has "
                           f"{names[:20]}); name the right one")
        if split is not None and want["split"] not in names:
            raise fail("E001", argument="--split", problem=f"{path} has no column "
                       f"{want['split']!r}; set --split-column or drop --split")
        present = {c: n for c, n in want.items() if n in names}
        table = pq.read_table(path, columns=sorted(set(present.values())))
        if split is not None:
            table = table.filter(pc.equal(table[want["split"]], split))
        tables.append(pa.table({c: _canonical(c, table[n]) for c, n in present.items()
                                if c != "split"}))
    common = set.intersection(*(set(t.column_names) for t in tables))
    table = pa.concat_tables([t.select([c for c in t.column_names if c in common])
                              for t in tables])
    if exclude:
        table = table.filter(pc.invert(pc.is_in(table["label"], pa.array(list(exclude),
                                                                        pa.string()))))
    unlabelled = table["label"].null_count
    if unlabelled:
        raise fail("E001", argument="--label-column", problem=f"{unlabelled} rows have no "
                   "label; give every row one (or drop those rows)")
    if split is not None and table.num_rows == 0:
        raise fail("E001", argument="--split", problem=f"no rows have {columns.split} = "
                   f"{split!r}")
    return table


def _canonical(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Labels, categories and sources as strings, ``list_source`` as bool; text as is."""
    if name in ("label", "category", "source", "id") and not pa.types.is_string(column.type):
        return pc.cast(column, pa.string())
    if name == "list_source" and not pa.types.is_boolean(column.type):
        return pc.cast(column, pa.bool_())
    return column
