"""The versioned binary file of a built matcher (no pickle), memory-mappable.

Layout: 8-byte magic ``FEMATCH\\0``, little-endian ``uint32`` format version, ``uint32``
reserved, ``uint64`` header length, a UTF-8 JSON header (options, sizes, categories and
the byte range, dtype and length of every section), then the sections, each aligned to 64
bytes. Loading maps the file read-only and wraps each section in a NumPy view, so every
worker that loads the same file shares its pages. Every section is checked against the
header, and every index the kernel follows is checked against the array it indexes,
before the kernel can see it: a corrupt file raises ``MatcherStateError``, never crashes.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path

import numpy as np

from engine import _matcher
from engine.errors import fail

MAGIC = b"FEMATCH\0"
#: 2: automaton entries (a pattern, or its joined form) apart from patterns, entry
#: flags, the separator class and the options normalize steps, join and inflect.
#: 3: dense rows only for the first ``n_dense`` states, the rest as edge lists; each
#: state's output entry, link, total and entry length side by side (``outputs``).
FORMAT_VERSION = 3
_PREFIX = struct.Struct("<8sIIQ")
_ALIGN = 64

SECTION_DTYPES = {
    "table": np.uint32,
    "sparse": np.uint32,
    "edges": np.uint32,
    "classes": np.uint8,
    "outputs": np.int32,
    "pat_len": np.int32,
    "ent_flags": np.uint8,
    "ent_start": np.int32,
    "ent_pid": np.int32,
    "weight": np.float64,
    "cat_start": np.int32,
    "cat_ids": np.int32,
    "text_offsets": np.int64,
    "text_data": np.uint8,
}


def write(path: str | Path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write header + sections to ``path`` (temporary name, fsync, then rename)."""
    path = Path(path)
    sections = {}
    offset = 0
    for name in SECTION_DTYPES:
        array = np.ascontiguousarray(arrays[name], dtype=SECTION_DTYPES[name])
        sections[name] = [offset, int(array.size)]
        offset += _aligned(array.nbytes)
    header = dict(header, format_version=FORMAT_VERSION, sections=sections)
    header_bytes = json.dumps(header, sort_keys=True).encode()
    data_start = _aligned(_PREFIX.size + len(header_bytes))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header_bytes)))
        f.write(header_bytes)
        f.write(b"\0" * (data_start - _PREFIX.size - len(header_bytes)))
        for name, dtype in SECTION_DTYPES.items():
            array = np.ascontiguousarray(arrays[name], dtype=dtype)
            f.write(array.data.cast("B"))
            f.write(b"\0" * (_aligned(array.nbytes) - array.nbytes))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def read(path: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Map ``path`` and return ``(header, arrays)``; arrays are read-only views."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as err:
        raise fail("E016", path=path, problem=err) from err
    if len(mapped) < _PREFIX.size:
        raise fail("E016", path=path, problem="too short")
    magic, version, _, header_len = _PREFIX.unpack_from(mapped, 0)
    if magic != MAGIC:
        raise fail("E016", path=path, problem="bad magic")
    if version != FORMAT_VERSION:
        raise fail("E017", path=path, version=version, supported=FORMAT_VERSION)
    try:
        header = json.loads(bytes(mapped[_PREFIX.size : _PREFIX.size + header_len]))
        data_start = _aligned(_PREFIX.size + header_len)
        arrays = {}
        for name, dtype in SECTION_DTYPES.items():
            offset, count = header["sections"][name]
            start = data_start + int(offset)
            if start < data_start or start + count * np.dtype(dtype).itemsize > len(mapped):
                raise ValueError(f"section {name} lies outside the file")
            arrays[name] = np.frombuffer(mapped, dtype=dtype, count=int(count), offset=start)
        validate(header, arrays)
    except (KeyError, TypeError, ValueError) as err:
        raise fail("E018", path=path, problem=err) from err
    return header, arrays


def validate(header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Check every index the kernel follows; raise ValueError on the first bad one."""
    n_states = int(header["n_states"])
    n_dense = int(header["n_dense"])
    n_classes = int(header["n_classes"])
    stride = int(header["stride"])
    n_pat = int(header["n_patterns"])
    n_ent = int(header["n_entries"])
    n_cat = len(header["categories"])
    _expect(0 < n_classes <= 256 and stride % 2 == 0 and n_classes < stride <= n_classes + 2
            and n_states > 0, "bad automaton sizes")
    _expect(arrays["outputs"].size == 4 * n_states, "outputs size does not match its header")
    problem = _matcher.check_table(arrays["table"], arrays["outputs"], n_states, n_dense,
                                   n_classes, stride, arrays["sparse"], arrays["edges"])
    if problem is not None:
        raise ValueError(problem)
    _expect(arrays["classes"].size == 256 and int(arrays["classes"].max()) < n_classes,
            "bad byte classes")
    entry, link, _, length = arrays["outputs"].reshape(n_states, 4).T
    _expect(int(entry.max()) < n_ent and int(entry.min()) >= -1, "output entry out of range")
    sep_class = header["sep_class"]
    _expect(isinstance(sep_class, int) and -1 <= sep_class < n_classes, "bad separator class")
    _expect(int(link.min()) >= -1 and np.all(link < np.arange(n_states)),
            "output links must point back")
    _expect(arrays["pat_len"].size == n_ent and arrays["ent_flags"].size == n_ent
            and arrays["weight"].size == n_pat, "pattern arrays do not match their header")
    _expect(n_ent == 0 or int(arrays["pat_len"].min()) > 0, "empty pattern")
    _expect(np.array_equal(length, np.where(entry >= 0, arrays["pat_len"][entry], 0)),
            "output lengths do not match their entries")
    ent_start = arrays["ent_start"]
    _expect(ent_start.size == n_ent + 1 and ent_start[0] == 0
            and np.all(np.diff(ent_start) >= 0) and ent_start[-1] == arrays["ent_pid"].size,
            "bad entry index")
    _expect(arrays["ent_pid"].size == 0 or (int(arrays["ent_pid"].min()) >= 0
            and int(arrays["ent_pid"].max()) < n_pat), "entry pattern out of range")
    cat_start = arrays["cat_start"]
    _expect(cat_start.size == n_pat + 1 and cat_start[0] == 0
            and np.all(np.diff(cat_start) >= 0) and cat_start[-1] == arrays["cat_ids"].size,
            "bad category index")
    _expect(arrays["cat_ids"].size == 0 or (int(arrays["cat_ids"].min()) >= 0
            and int(arrays["cat_ids"].max()) < n_cat), "category out of range")
    offsets = arrays["text_offsets"]
    _expect(offsets.size == n_pat + 1 and offsets[0] == 0 and np.all(np.diff(offsets) >= 0)
            and offsets[-1] == arrays["text_data"].size, "bad pattern text index")


def _expect(condition: object, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _aligned(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN
