"""The one record every source yields; the builder turns a list of them into the parquet table."""

from __future__ import annotations

from typing import NamedTuple


class Doc(NamedTuple):
    """One reference document. ``id`` is ``source:key`` and stable across rebuilds of one cache.

    Whether a source fed the blocklists is not the source's business: the builder decides it
    from ``build_reference.LIST_SOURCES``.
    """

    id: str
    text: str
    label: str
    category: str
    source: str
