"""Zero-copy access to the raw buffers of Arrow string columns.

This is the one module that touches Arrow's memory layout. Everything a kernel reads is
checked here first: the type, the offsets (monotonic, inside the data buffer) and the
validity bitmap. Kernels then get plain NumPy views (``int64`` offsets, ``uint8`` data)
and never see pyarrow objects.

The string layouts users hand over are converted here, once: ``string_view`` (what polars
exports) becomes ``large_string``, a dictionary-encoded column is decoded to its values'
layout, an all-null column becomes ``string``. ``check_text`` does the whole check at a
boundary (conversion, offsets, UTF-8) and returns a ``CheckedText`` that the matcher and
the classifiers read as it is, without checking it again.

Data read from files that Arrow does not validate itself (Arrow IPC) is checked whole,
every column, by ``layout_problem`` before anything reads its buffers: damaged offsets make
a batch unreadable, while invalid UTF-8 is a per-row matter (``check_text``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.errors import fail

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

    @property
    def null(self) -> np.ndarray:
        """``bool[length]``: True where the row is null."""
        return np.zeros(self.length, bool) if self.valid is None else ~self.valid

    @property
    def row_bytes(self) -> np.ndarray:
        """``int64[length]``: UTF-8 bytes per row (0 for a null row)."""
        sizes = np.diff(self.offsets)
        return sizes if self.valid is None else np.where(self.valid, sizes, 0)


@dataclass(frozen=True, eq=False)
class CheckedText:
    """A text column checked once, at a boundary, for every stage that reads it.

    ``check_text`` builds it: the column is converted to ``string``/``large_string`` (see
    the module docstring), its offsets are checked against its data buffer, and (with
    ``utf8=True``) its UTF-8 is validated; rows that fail are set to null and listed in
    ``problems``, so that no kernel ever reads their bytes. ``Matcher.count/scan/spans``
    and ``Classifier.score`` take it wherever they take an Arrow column and read it as it
    is: no type check, no offset check and no UTF-8 pass of their own.

    Attributes:
        array: the converted column (``Array`` or ``ChunkedArray``); invalid rows are null.
        chunks: one checked zero-copy ``TextChunk`` per Arrow chunk of ``array``.
        invalid: ``bool[n]``, True where the row's UTF-8 is invalid; None when UTF-8 was
            not checked (``utf8=False``: the caller validates as it reads, as the matcher
            kernel does).
        problems: ``(row, message)`` per invalid row, in row order.
        too_long: ``bool[n]``, True where the row was longer than the cap given to
            ``capped`` and was set to null (no stage reads it); None when no row was.
    """

    array: pa.Array | pa.ChunkedArray
    chunks: tuple[TextChunk, ...]
    invalid: np.ndarray | None
    problems: tuple[tuple[int, str], ...] = ()
    too_long: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.array)

    @property
    def null(self) -> np.ndarray:
        """``bool[n]``: True where the row is null (rows with invalid UTF-8 included)."""
        return _joined([c.null for c in self.chunks], bool)

    @property
    def row_bytes(self) -> np.ndarray:
        """``int64[n]``: UTF-8 bytes per row (0 for nulls and invalid rows)."""
        return _joined([c.row_bytes for c in self.chunks], np.int64)

    def take(self, rows: np.ndarray) -> CheckedText:
        """The rows at ``rows`` (indices) as a checked column; no UTF-8 pass again."""
        rows = np.asarray(rows, np.int64)
        array = self.array.take(pa.array(rows, pa.int64()))
        invalid = None if self.invalid is None else self.invalid[rows]
        problems: tuple[tuple[int, str], ...] = ()
        if self.problems:
            where_now = np.full(len(self), -1, np.int64)
            where_now[rows] = np.arange(len(rows))
            problems = tuple((int(where_now[r]), m) for r, m in self.problems
                             if where_now[r] >= 0)
        too_long = None if self.too_long is None else self.too_long[rows]
        return CheckedText(array, _chunks_of(array, "rows taken"), invalid, problems, too_long)

    def capped(self, max_bytes: int | None) -> CheckedText:
        """The column with every row of more than ``max_bytes`` UTF-8 bytes set to null and
        marked in ``too_long``, so that no kernel reads (or copies) its bytes; ``self`` when
        no row is that long or ``max_bytes`` is None."""
        if max_bytes is None:
            return self
        long = self.row_bytes > max_bytes
        if not long.any():
            return self
        arrays = self.array.chunks if isinstance(self.array, pa.ChunkedArray) else [self.array]
        fixed = []
        for array, chunk in zip(arrays, self.chunks, strict=True):
            part = long[chunk.row_start:chunk.row_start + chunk.length]
            fixed.append(_nulled(array, ~part) if part.any() else array)
        column = (pa.chunked_array(fixed, self.array.type)
                  if isinstance(self.array, pa.ChunkedArray) else fixed[0])
        return CheckedText(column, _chunks_of(column, "capped text"), self.invalid,
                           self.problems, long)


def check_text(values: object, where: str = "input", *, utf8: bool = True) -> CheckedText:
    """Check and convert a text column once; see ``CheckedText``.

    Args:
        values: an Arrow string column of any layout (``string``, ``large_string``,
            ``string_view``, dictionary of those, all-null; ``Array`` or ``ChunkedArray``,
            sliced or not), a list of ``str``/None, or a ``CheckedText`` (returned as it
            is, validated first if it was not and ``utf8`` asks for it).
        where: names the column in error messages.
        utf8: validate UTF-8 (rows that fail become null and are listed in ``problems``).

    Returns:
        The checked column.

    Raises:
        SchemaError: not a string column (E021), not readable as one (E022), malformed
            offsets (E023).
    """
    if isinstance(values, CheckedText):
        text = values
    else:
        column = as_string_array(values, where)
        text = CheckedText(column, _chunks_of(column, where), None)
    if utf8 and text.invalid is None:
        text = _validated(text)
    return text


def plain_string_type(kind: pa.DataType) -> pa.DataType | None:
    """The layout ``as_string_array`` converts a column of type ``kind`` to (``string`` or
    ``large_string``), or None if ``kind`` is not a string type at all."""
    if kind in _STRING_TYPES:
        return kind
    if kind == pa.string_view():
        return pa.large_string()
    if kind == pa.null():
        return pa.string()
    if pa.types.is_dictionary(kind):
        value = kind.value_type
        return plain_string_type(value) if value != pa.null() else None
    return None


def as_string_array(values: object, where: str = "input") -> pa.Array | pa.ChunkedArray:
    """Any accepted text input as a ``string``/``large_string`` Array or ChunkedArray.

    Plain string columns are returned as they are (zero-copy); ``string_view``, dictionary
    and all-null columns are converted (see ``plain_string_type``); a list of ``str`` (None
    for nulls) becomes a ``string`` array; a ``CheckedText`` gives its checked column.
    """
    if isinstance(values, CheckedText):
        return values.array
    if isinstance(values, pa.ChunkedArray | pa.Array):
        target = plain_string_type(values.type)
        if target is None:
            raise fail("E021", where=where, type=values.type)
        if values.type == target:
            return values
        if isinstance(values, pa.ChunkedArray):
            return pa.chunked_array([_converted(c, target) for c in values.chunks], target)
        return _converted(values, target)
    if isinstance(values, str):
        raise fail("E022", where=where, problem="got one str (use Matcher.find for a single "
                   "text)")
    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
        raise fail("E022", where=where,
                   problem=f"cannot read as a string column ({err})") from err


#: Layouts pyarrow cannot ``take`` or ``filter`` (version 26), and what they become.
_VIEWS = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}


def layout_problem(batch: pa.RecordBatch) -> str | None:
    """What is wrong with the memory layout of ``batch``, or None when nothing is.

    Every column is checked in full (offsets inside their data buffer, never decreasing,
    never negative; buffers as long as the lengths say; dictionary indices in range), as
    ``validate(full=True)`` does, except that string values are checked as bytes: invalid
    UTF-8 is not a layout problem (the text column's rows are checked one by one later, by
    ``check_text``). Arrow IPC readers do not run these checks; call this before anything
    reads a batch's buffers.
    """
    try:
        batch.validate(full=False)
    except pa.ArrowInvalid as err:
        return str(err)
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        try:
            as_bytes = _bytes_type(column.type)
            (column if as_bytes == column.type else column.view(as_bytes)).validate(full=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            return f"column {name!r}: {err}"
    return None


def _bytes_type(kind: pa.DataType) -> pa.DataType:
    """``kind`` with every string type replaced by the binary type of the same layout."""
    t = pa.types
    if kind in _BYTES_OF:
        return _BYTES_OF[kind]
    if t.is_dictionary(kind):
        return pa.dictionary(kind.index_type, _bytes_type(kind.value_type), kind.ordered)
    if t.is_map(kind):
        return pa.map_(_bytes_field(kind.key_field), _bytes_field(kind.item_field),
                       kind.keys_sorted)
    if t.is_list(kind):
        return pa.list_(_bytes_field(kind.value_field))
    if t.is_large_list(kind):
        return pa.large_list(_bytes_field(kind.value_field))
    if t.is_fixed_size_list(kind):
        return pa.list_(_bytes_field(kind.value_field), kind.list_size)
    if t.is_struct(kind):
        return pa.struct([_bytes_field(kind.field(i)) for i in range(kind.num_fields)])
    return kind


def _bytes_field(item: pa.Field) -> pa.Field:
    return item.with_type(_bytes_type(item.type))


_BYTES_OF = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary(),
             pa.string_view(): pa.binary_view()}


def splittable(batch: pa.RecordBatch, converted: Mapping[int, pa.Array] | None = None,
               ) -> pa.RecordBatch:
    """``batch`` with its ``string_view``/``binary_view`` columns in the large layouts, so
    that its rows can be taken and filtered (pyarrow has no take/filter kernel for views).

    Args:
        batch: a record batch.
        converted: column index -> that column already converted (the checked text).
    """
    for i, item in enumerate(batch.schema):
        target = _VIEWS.get(item.type)
        if target is not None:
            done = (converted or {}).get(i)
            column = done if done is not None else batch.column(i).cast(target)
            batch = batch.set_column(i, item.name, column)
    return batch


def string_chunks(values: object, where: str = "input") -> list[TextChunk]:
    """Checked zero-copy chunks of a text column (anything ``check_text`` accepts); the
    chunks of a ``CheckedText`` are returned without checking them again."""
    return list(check_text(values, where, utf8=False).chunks)


def _chunks_of(column: pa.Array | pa.ChunkedArray, where: str) -> tuple[TextChunk, ...]:
    arrays = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    chunks = []
    row_start = 0
    for array in arrays:
        chunks.append(_chunk_of(array, row_start, where))
        row_start += len(array)
    return tuple(chunks)


def _converted(array: pa.Array, target: pa.DataType) -> pa.Array:
    """One chunk in the ``target`` layout (``plain_string_type`` of its type)."""
    if pa.types.is_dictionary(array.type):
        values = _converted(array.dictionary, target)
        return values.take(array.indices)  # null indices give null rows
    return array.cast(target)


def _validated(text: CheckedText) -> CheckedText:
    """``text`` with its UTF-8 checked: one fast Arrow pass per chunk; only a chunk that
    fails is searched row by row, and its bad rows are set to null."""
    invalid = np.zeros(len(text), bool)
    problems: list[tuple[int, str]] = []
    arrays = text.array.chunks if isinstance(text.array, pa.ChunkedArray) else [text.array]
    fixed = list(arrays)
    for i, (array, chunk) in enumerate(zip(arrays, text.chunks, strict=True)):
        try:
            array.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        bad = _invalid_rows(chunk)
        if not bad:
            continue
        rows = np.array([r for r, _ in bad], np.int64)
        invalid[chunk.row_start + rows] = True
        problems += [(chunk.row_start + r, message) for r, message in bad]
        keep = np.ones(chunk.length, bool)
        keep[rows] = False
        fixed[i] = _nulled(array, keep)
    if not problems:
        return CheckedText(text.array, text.chunks, invalid, ())
    column = (pa.chunked_array(fixed, text.array.type)
              if isinstance(text.array, pa.ChunkedArray) else fixed[0])
    return CheckedText(column, _chunks_of(column, "checked text"), invalid, tuple(problems))


def _invalid_rows(chunk: TextChunk) -> list[tuple[int, str]]:
    """``(row in chunk, message)`` of the rows whose bytes are not UTF-8 (the rare path)."""
    bad = []
    offsets = chunk.offsets.tolist()
    valid = chunk.valid
    for r in range(chunk.length):
        if valid is not None and not valid[r]:
            continue
        try:
            chunk.data[offsets[r]:offsets[r + 1]].tobytes().decode("utf-8")
        except UnicodeDecodeError as err:
            bad.append((r, f"invalid UTF-8 at byte {err.start}"))
    return bad


def _nulled(array: pa.Array, keep: np.ndarray) -> pa.Array:
    """``array`` with the rows where ``keep`` is False set to null (their bytes dropped)."""
    return pc.if_else(pa.array(keep), array, pa.scalar(None, array.type))


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _chunk_of(array: pa.Array, row_start: int, where: str) -> TextChunk:
    n = len(array)
    validity, offsets_buf, data_buf = array.buffers()
    offset_type = np.int64 if array.type == pa.large_string() else np.int32
    width = np.dtype(offset_type).itemsize
    needed = (array.offset + n + 1) * width
    if n == 0 and offsets_buf is None:
        return TextChunk(np.zeros(1, np.int64), np.zeros(0, np.uint8), None, row_start)
    if offsets_buf is None or offsets_buf.size < needed:
        raise fail("E023", where=where, problem=f"rows {row_start}..{row_start + n - 1}: "
                   f"offsets buffer holds {0 if offsets_buf is None else offsets_buf.size} "
                   f"bytes, needs {needed}")
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
        raise fail("E023", row=row_start, where=where,
                   problem=f"row {row_start}: negative start offset {int(offsets[0])}")
    steps = np.diff(offsets)
    if len(steps) and steps.min() < 0:
        bad = int(np.argmax(steps < 0))
        raise fail("E023", row=row_start + bad, where=where,
                   problem=f"row {row_start + bad}: offsets decrease "
                   f"({int(offsets[bad])} -> {int(offsets[bad + 1])})")
    if offsets[-1] > data_len:
        bad = int(np.argmax(offsets[1:] > data_len))
        raise fail("E023", row=row_start + bad, where=where,
                   problem=f"row {row_start + bad}: ends at byte {int(offsets[bad + 1])} but "
                   f"the data buffer holds {data_len} bytes")
