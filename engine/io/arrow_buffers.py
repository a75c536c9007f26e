"""Zero-copy access to the raw buffers of Arrow string columns.

This is the one module that touches Arrow's memory layout. Everything a kernel reads is
checked here first: the type, the offsets (monotonic, inside the data buffer) and the
validity bitmap. Kernels then get plain NumPy views (``int64`` offsets, ``uint8`` data)
and never see pyarrow objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from engine.errors import SchemaError

_STRING_TYPES = (pa.string(), pa.large_string())


@dataclass(frozen=True)
class TextChunk:
    """One contiguous run of rows: offsets into a UTF-8 data buffer.

    Attributes:
        offsets: ``int64[length + 1]``, absolute byte offsets into ``data`` (already
            shifted by the array's slice offset), validated monotonic and in bounds.
        data: ``uint8`` view of the whole UTF-8 data buffer (zero-copy).
        valid: ``bool[length]`` (True where the row is not null), or None if no nulls.
        row_start: global index of the chunk's first row in the caller's column.
    """

    offsets: np.ndarray
    data: np.ndarray
    valid: np.ndarray | None
    row_start: int

    @property
    def length(self) -> int:
        return len(self.offsets) - 1

    @property
    def text_bytes(self) -> int:
        """Bytes of text the chunk covers (nulls included, normally empty)."""
        return int(self.offsets[-1] - self.offsets[0])


def as_string_array(values, where: str = "input") -> pa.Array | pa.ChunkedArray:
    """Accept Arrow string columns as they are, and a list of ``str`` for convenience."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if values.type not in _STRING_TYPES:
            raise SchemaError(
                f"{where}: column is {values.type}; expected a string or large_string column",
                code="E021",
            )
        return values
    if isinstance(values, str):
        raise SchemaError(
            f"{where}: got one str; pass a list of strings or an Arrow string array "
            "(use Matcher.find for a single text)",
            code="E022",
        )
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
        raise SchemaError(
            f"{where}: cannot read as a string column ({err}); pass str values or None",
            code="E022",
        ) from err


def string_chunks(values, where: str = "input") -> list[TextChunk]:
    """Validated zero-copy chunks of a string column (Array, ChunkedArray or list of str)."""
    column = as_string_array(values, where)
    arrays = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    chunks = []
    row_start = 0
    for array in arrays:
        chunks.append(_chunk_of(array, row_start, where))
        row_start += len(array)
    return chunks


def _chunk_of(array: pa.Array, row_start: int, where: str) -> TextChunk:
    n = len(array)
    validity, offsets_buf, data_buf = array.buffers()
    offset_type = np.int64 if array.type == pa.large_string() else np.int32
    width = np.dtype(offset_type).itemsize
    needed = (array.offset + n + 1) * width
    if n == 0 and offsets_buf is None:
        return TextChunk(np.zeros(1, np.int64), np.zeros(0, np.uint8), None, row_start)
    if offsets_buf is None or offsets_buf.size < needed:
        raise SchemaError(
            f"{where}: rows {row_start}..{row_start + n - 1}: offsets buffer holds "
            f"{0 if offsets_buf is None else offsets_buf.size} bytes, needs {needed}; "
            "the array is malformed",
            code="E023",
        )
    raw = np.frombuffer(offsets_buf, dtype=offset_type, count=array.offset + n + 1)
    offsets = raw[array.offset :].astype(np.int64, copy=offset_type is not np.int64)
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and data_buf.size
        else np.zeros(0, np.uint8)
    )
    _check_offsets(offsets, len(data), row_start, where)
    valid = None
    if array.null_count:
        valid = np.asarray(array.is_valid())
    return TextChunk(offsets, data, valid, row_start)


def _check_offsets(offsets: np.ndarray, data_len: int, row_start: int, where: str) -> None:
    if offsets[0] < 0:
        raise SchemaError(
            f"{where}: row {row_start}: negative start offset {int(offsets[0])}; "
            "the array is malformed",
            code="E023",
        )
    steps = np.diff(offsets)
    if len(steps) and steps.min() < 0:
        bad = int(np.argmax(steps < 0))
        raise SchemaError(
            f"{where}: row {row_start + bad}: offsets decrease "
            f"({int(offsets[bad])} -> {int(offsets[bad + 1])}); the array is malformed",
            code="E023",
        )
    if offsets[-1] > data_len:
        bad = int(np.argmax(offsets[1:] > data_len))
        raise SchemaError(
            f"{where}: row {row_start + bad}: ends at byte {int(offsets[bad + 1])} but the "
            f"data buffer holds {data_len} bytes; the array is malformed",
            code="E023",
        )
