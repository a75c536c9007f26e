"""Shard readers: Parquet, JSONL (plain, gzip, zstd) and Arrow IPC, chosen by magic bytes.

A reader yields record batches with bounded memory and accounts for every row it could not
turn into a batch: a row group that does not decode, an Arrow IPC batch whose buffers are
damaged, a JSONL line that does not parse, or the unknown tail of a truncated or over-limit
compressed stream. Whatever is wrong with a whole shard (no such file, no footer, no text
column, two text columns) raises ``ShardError`` naming the shard; the runner then
quarantines it and goes on.

Batches are sized by rows (``batch_rows``) and by bytes of text (``batch_bytes``, 64 MiB by
default): a batch is cut before the row that would take it over the byte budget, so one
long document is a batch of its own. Parquet row groups are decoded a few pages at a time
(``PARQUET_BUFFER``) in reads of about ``batch_bytes`` of text, estimated from the column
chunk's uncompressed size; a single Parquet page is always decoded whole (a limit of the
format: a 200 MB document is one page of at least 200 MB).

Arrow IPC batches are checked whole (``engine.io.arrow_buffers.layout_problem``) before
anything reads their buffers: a batch whose offsets are damaged (negative, decreasing, past
the end of the data) is unreadable as a whole (E044, reason ``malformed_batch``, rows
counted), while invalid UTF-8 in a well-formed batch is a per-row matter left to the filter.

JSON lines:

* A *blank line* holds nothing but spaces, tabs and carriage returns (``BLANK_LINE``: JSON's
  insignificant whitespace besides the newline itself). Blank lines are not rows; every
  other line is exactly one row: a document, or an unreadable row. ``count_rows`` is that
  one definition, used wherever rows are counted or numbered (``\\v`` or ``\\f`` alone on a
  line is a row, and unreadable: it is not JSON).
* A block (8 MB) is parsed in one go; if that fails it is bisected: each half is parsed on
  its own and only a half that fails is split again, so one bad line costs O(log n) parses
  and its neighbours are kept. A failing piece of a few lines, or any failing piece once
  the block has shown many bad lines (dense garbage), is screened line by line with
  Python's ``json`` first and its good lines parsed together. A line that is not a JSON
  object is unreadable (``json``), or ``duplicate_text`` when its object names the text
  field twice (E045: which text is meant is ambiguous); other keys given twice take their
  last value, as Python's ``json`` does. The rows of a batch need not be consecutive
  shard rows (unreadable lines are left out); ``ShardReader.row_numbers`` then says which
  they are.
* Columns and types come from the shard's first block; later lines are parsed against that
  schema. A value whose type does not fit its column is converted when that is lossless
  (``2.0`` into an int64 column); otherwise the column becomes a string column for the
  whole shard: the reader raises ``SchemaDrift`` and the caller reads the shard again from
  the start with ``string_columns`` naming it (before the first batch is yielded the reader
  does this itself). Values of such a column are kept as their JSON text (``5``, ``true``,
  ``{"a": 1}``), so no row with a valid text is lost to a metadata column. A text value
  that is not a string (``"text": [1]``) makes its row unreadable; a number is kept as its
  JSON text. A field that first appears after the first block is not carried into the
  outputs (a known limit).
* A line longer than ``max_line_bytes`` (512 MiB) is unreadable (``line_too_long``) and
  skipped; the lines after it are read.

Object stores: reads are retried on transient errors (``engine.io.remote.RetryingFile``); a
store that keeps failing raises E069, which leaves the shard undone for a rerun instead of
marking it unreadable.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from engine.errors import ShardError, fail
from engine.io.arrow_buffers import as_string_array, layout_problem, plain_string_type
from engine.io.remote import RetryingFile, url_to_fs

MAGIC = (
    (b"PAR1", "parquet", None),
    (b"ARROW1", "ipc-file", None),
    (b"\xff\xff\xff\xff", "ipc-stream", None),
    (b"\x1f\x8b", "jsonl", "gzip"),
    (b"\x28\xb5\x2f\xfd", "jsonl", "zstd"),
    (b"BZh", "jsonl", "bz2"),
)
JSONL_BLOCK = 8 << 20
#: Decompressed bytes per read call: a truncated stream loses at most this much before the cut.
READ_SIZE = 256 << 10
#: One JSON line longer than this is unreadable and skipped (memory bound for newline-free
#: input).
MAX_LINE_BYTES = 512 << 20
#: Bytes of text per batch handed to the filter (one longer row is a batch of its own).
BATCH_BYTES = 64 << 20
#: Read buffer of Parquet column chunks: pages are read and decoded a few at a time.
PARQUET_BUFFER = 1 << 20
#: What malformed or truncated data raises; anything else (MemoryError, bugs) propagates.
_DATA_ERRORS = (pa.ArrowException, OSError, EOFError, ValueError)
#: A blank JSONL line (see the module docstring): the one definition.
BLANK_LINE = rb"[ \t\r]*"
_BLANK = re.compile(rb"(?m)^" + BLANK_LINE + rb"$")
_BLANK_WHOLE = re.compile(BLANK_LINE)
_BOM = b"\xef\xbb\xbf"
#: A failing piece of a JSONL block with at most this many rows is read line by line.
_LINE_BY_LINE = 8
#: After this many unreadable lines in one block, a failing piece is screened line by line
#: with Python's ``json`` instead of bisected further (dense garbage).
_DENSE = 16


def is_blank(line: bytes) -> bool:
    """Whether one JSONL line (without its ``\\n``) is blank, i.e. not a row."""
    return _BLANK_WHOLE.fullmatch(line) is not None


def count_rows(data: bytes) -> int:
    """Rows in ``data``: its lines (split at ``\\n``; a last line without one counts) that
    are not blank."""
    if not data:
        return 0
    return data.count(b"\n") + 1 - len(_BLANK.findall(data))


@dataclass
class Unreadable:
    """Rows a reader could not produce: ``count`` rows from ``row`` on, and why."""

    row: int
    count: int
    reason: str
    message: str


@dataclass
class ReadStats:
    """What a reader saw, for the shard's marker."""

    format: str = ""
    compression: str | None = None
    footer_rows: int | None = None
    unreadable: list[Unreadable] = field(default_factory=list)
    truncated: Unreadable | None = None

    @property
    def unreadable_rows(self) -> int:
        return sum(u.count for u in self.unreadable)


class SchemaDrift(Exception):  # noqa: N818 - a signal to read again, not an error
    """A JSONL shard's later lines hold values that its columns (typed from the first block)
    cannot hold; read the shard again with ``string_columns`` including ``columns``."""

    def __init__(self, uri: str, columns: frozenset[str]):
        super().__init__(f"shard {uri!r}: column(s) {sorted(columns)} change type after the "
                         "first block; read it again with them as text")
        self.columns = columns


def open_binary(uri: str, storage_options: dict | None = None):
    """A seekable binary file object for a local path or an fsspec URL (whose reads are
    retried on transient errors: ``engine.io.remote.RetryingFile``)."""
    try:
        if "://" in uri and not uri.startswith("file://"):
            fs, path = url_to_fs(uri, storage_options)
            return RetryingFile(fs, path, uri)
        return open(uri.removeprefix("file://"), "rb")  # noqa: SIM115 - caller closes
    except FileNotFoundError as err:
        raise fail("E046", shard=uri, reason="not_found",
                   problem="file not found (deleted, or a dangling symlink)") from err
    except IsADirectoryError as err:
        raise fail("E046", shard=uri, reason="not_a_file",
                   problem="is a directory, not a data file") from err
    except PermissionError as err:
        raise fail("E046", shard=uri, reason="permission",
                   problem=f"access denied: {err}") from err
    except OSError as err:
        raise fail("E046", shard=uri, reason="io_error", problem=f"cannot open: {err}") from err


def sniff(head: bytes, uri: str) -> tuple[str, str | None]:
    """The format and compression of a shard from its first bytes (not its name)."""
    for magic, fmt, codec in MAGIC:
        if head.startswith(magic):
            return fmt, codec
    if not head and uri.lower().endswith((".parquet", ".pq", ".arrow", ".ipc", ".feather")):
        raise fail("E043", shard=uri, reason="parquet_footer", problem="file is empty (0 "
                   "bytes): a Parquet or Arrow file always has a footer; was the write "
                   "interrupted?")
    stripped = head.lstrip(_BOM + b" \t\r\n")
    if not head or stripped[:1] in (b"{", b""):
        return "jsonl", None
    raise fail("E043", shard=uri, reason="unknown_format",
               problem=f"not Parquet, Arrow IPC or JSON lines (first bytes {head[:8]!r}); is "
               "the file corrupt or of another format?")


class ShardReader:
    """Iterate one shard as record batches whose text column is a string column.

    Args:
        uri: local path or fsspec URL.
        text_column: the column every batch must carry as string/large_string.
        batch_rows: the most rows per batch.
        max_decompressed_bytes: a compressed JSONL stream that inflates past this is cut
            there (a decompression bomb); the rest is reported as unreadable.
        storage_options: passed to fsspec for remote URLs.
        row_groups: ``(first, stop)``: read only these Parquet row groups (a work unit of
            a split file); row numbers stay those of the whole file.
        batch_bytes: the most bytes of text per batch (a longer row is a batch alone).
        string_columns: JSONL columns to read as text whatever their values' JSON type
            (the columns of a ``SchemaDrift``).
        max_line_bytes: a longer JSONL line is unreadable (``line_too_long``) and skipped.

    Raises (while iterating):
        ShardError: the shard cannot be read at all.
        SchemaDrift: a JSONL column changed type after batches were yielded; read again
            with ``string_columns`` widened (``with_string_columns``).
        EngineError: E069, the object store kept failing (the shard is left undone).
    """

    def __init__(self, uri: str, text_column: str, batch_rows: int = 8192,
                 max_decompressed_bytes: int = 64 << 30, storage_options: dict | None = None,
                 row_groups: tuple[int, int] | None = None, *, batch_bytes: int = BATCH_BYTES,
                 string_columns: frozenset[str] = frozenset(),
                 max_line_bytes: int = MAX_LINE_BYTES):
        self.uri = uri
        self.row_groups = row_groups
        self.text_column = text_column
        self.batch_rows = batch_rows
        self.batch_bytes = max(1, batch_bytes)
        self.max_decompressed_bytes = max_decompressed_bytes
        self.max_line_bytes = max_line_bytes
        self.storage_options = storage_options
        self.string_columns = frozenset(string_columns)
        self.stats = ReadStats()
        self.schema: pa.Schema | None = None  # once known: the columns every batch has
        self.position = 0  # shard row index of the first row of the batch just yielded
        #: shard row index of every row of the batch just yielded when they are not
        #: consecutive (a JSONL block with unreadable lines between them); else None
        self.row_numbers: np.ndarray | None = None

    def with_string_columns(self, columns: frozenset[str]) -> ShardReader:
        """A fresh reader of the same shard that also reads ``columns`` as text."""
        return ShardReader(self.uri, self.text_column, self.batch_rows,
                           self.max_decompressed_bytes, self.storage_options, self.row_groups,
                           batch_bytes=self.batch_bytes,
                           string_columns=self.string_columns | columns,
                           max_line_bytes=self.max_line_bytes)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            self.stats, self.schema, self.position, self.row_numbers = ReadStats(), None, 0, None
            yielded = False
            try:
                for batch in self._read():
                    yielded = True
                    yield batch
                return
            except SchemaDrift as drift:
                if yielded:
                    raise
                self.string_columns |= drift.columns  # nothing given out yet: start again

    def _read(self) -> Iterator[pa.RecordBatch]:
        with open_binary(self.uri, self.storage_options) as fh:
            head = fh.read(8)
            fh.seek(0)
            fmt, codec = sniff(head, self.uri)
            self.stats.format, self.stats.compression = fmt, codec
            if fmt == "parquet":
                yield from self._parquet(fh)
            elif fmt.startswith("ipc"):
                yield from self._ipc(fh, fmt)
            else:
                yield from self._jsonl(fh, codec)

    # -- text column -------------------------------------------------------------------
    def _text_ok(self, schema: pa.Schema) -> None:
        found = schema.get_all_field_indices(self.text_column)
        if len(found) > 1:
            raise fail("E045", shard=self.uri, reason="schema", where="the schema",
                       count=len(found), column=self.text_column)
        if not found:
            raise fail("E041", shard=self.uri, reason="schema", column=self.text_column,
                       columns=schema.names[:20])
        index = found[0]
        kind = schema.field(index).type
        plain = plain_string_type(kind)
        if plain is None:
            raise fail("E042", shard=self.uri, reason="schema", column=self.text_column,
                       type=kind)
        if kind != plain:
            schema = schema.set(index, pa.field(self.text_column, plain))
        self.schema = schema

    def _normalize(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """``string_view``, dictionary and all-null text columns become plain strings, once,
        here (``engine.io.arrow_buffers``), so outputs and stages see one layout."""
        index = batch.schema.get_field_index(self.text_column)
        column = batch.column(index)
        if column.type in (pa.string(), pa.large_string()):
            return batch
        plain = as_string_array(column, where=f"shard {self.uri!r}: column {self.text_column!r}")
        return batch.set_column(index, self.text_column, plain)

    def _emit(self, batch: pa.RecordBatch, row: int, rows: np.ndarray | None = None,
              ) -> Iterator[pa.RecordBatch]:
        """``batch`` (shard rows from ``row`` on, or the shard rows ``rows``) normalized and
        cut to at most ``batch_rows`` rows and ``batch_bytes`` bytes of text (a longer row
        goes alone); ``position`` and ``row_numbers`` say where each piece's rows are."""
        batch = self._normalize(batch)
        n = batch.num_rows
        text = batch.column(batch.schema.get_field_index(self.text_column))
        ends = np.cumsum(pc.binary_length(text).fill_null(0).to_numpy(zero_copy_only=False),
                         dtype=np.int64)
        start = 0
        while start < n:
            base = int(ends[start - 1]) if start else 0
            stop = int(np.searchsorted(ends, base + self.batch_bytes, side="right"))
            stop = min(max(stop, start + 1), start + self.batch_rows, n)
            self.position, self.row_numbers = row + start, None
            if rows is not None:
                part = rows[start:stop]
                self.position = int(part[0])
                if int(part[-1]) - self.position != stop - start - 1:
                    self.row_numbers = part
            yield batch if (start, stop) == (0, n) else batch.slice(start, stop - start)
            start = stop

    # -- Parquet -------------------------------------------------------------------------
    def _parquet(self, fh) -> Iterator[pa.RecordBatch]:
        try:
            pf = pq.ParquetFile(fh, buffer_size=PARQUET_BUFFER, pre_buffer=False)
        except ShardError:  # the store's definite answer (E046), not bad data
            raise
        except _DATA_ERRORS as err:  # pyarrow raises ArrowInvalid / OSError for bad footers
            raise fail("E043", shard=self.uri, reason="parquet_footer",
                       problem=f"unreadable Parquet: {err}") from err
        self._text_ok(pf.schema_arrow)
        meta = pf.metadata
        first, stop = self.row_groups or (0, meta.num_row_groups)
        row = sum(meta.row_group(rg).num_rows for rg in range(first))
        self.stats.footer_rows = sum(meta.row_group(rg).num_rows for rg in range(first, stop))
        for rg in range(first, stop):
            rg_rows = meta.row_group(rg).num_rows
            done = 0
            try:
                for batch in pf.iter_batches(batch_size=self._rows_per_read(meta.row_group(rg)),
                                             row_groups=[rg], use_threads=False):
                    at = row + done
                    done += batch.num_rows
                    yield from self._emit(batch, at)
            except ShardError:
                raise
            except _DATA_ERRORS as err:
                self.stats.unreadable.append(Unreadable(
                    row + done, rg_rows - done, "parquet_decode",
                    f"row group {rg} (rows {row + done}..{row + rg_rows - 1}): {err}"))
            row += rg_rows

    def _rows_per_read(self, group: pq.RowGroupMetaData) -> int:
        """Rows per Parquet read: ``batch_rows``, fewer when the text column's uncompressed
        size says that many rows hold more than ``batch_bytes`` (an estimate: a dictionary-
        encoded column of repeated long values decodes larger than it says)."""
        for i in range(group.num_columns):
            chunk = group.column(i)
            if chunk.path_in_schema == self.text_column:
                per_row = chunk.total_uncompressed_size / max(group.num_rows, 1)
                return max(1, min(self.batch_rows, int(self.batch_bytes // max(per_row, 1))))
        return self.batch_rows

    # -- Arrow IPC -----------------------------------------------------------------------
    def _ipc(self, fh, fmt: str) -> Iterator[pa.RecordBatch]:
        try:
            reader = pa.ipc.open_file(fh) if fmt == "ipc-file" else pa.ipc.open_stream(fh)
        except ShardError:
            raise
        except _DATA_ERRORS as err:
            raise fail("E043", shard=self.uri, reason="ipc",
                       problem=f"unreadable Arrow IPC: {err}") from err
        self._text_ok(reader.schema)
        row = 0
        try:
            if fmt == "ipc-file":
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                batches = iter(reader)
            for batch in batches:
                problem = layout_problem(batch)  # IPC reading validates nothing
                if problem is not None:
                    n = batch.num_rows
                    error = fail("E044", shard=self.uri, reason="malformed_batch",
                                 rows=f"{row}..{row + n - 1}", problem=problem)
                    self.stats.unreadable.append(Unreadable(row, n, "malformed_batch", str(error)))
                    row += n
                    continue
                yield from self._emit(batch, row)
                row += batch.num_rows
        except ShardError:
            raise
        except _DATA_ERRORS as err:
            self.stats.truncated = Unreadable(row, 0, "ipc", f"after row {row}: {err}")

    # -- JSON lines ----------------------------------------------------------------------
    def _jsonl(self, fh, codec: str | None) -> Iterator[pa.RecordBatch]:
        raw = pa.PythonFile(fh, mode="r")
        stream = pa.CompressedInputStream(raw, codec) if codec else raw
        parser = _JsonlBlocks(self)
        pending: list[bytes] = []  # the unfinished last line, in pieces (never re-joined)
        pending_len = 0
        skipping = False  # inside a line longer than max_line_bytes: drop it to its end
        inflated = 0
        row = 0
        first = True
        while True:
            parts: list[bytes] = []
            error: BaseException | None = None
            try:
                chunk = _read_block(stream, parts)
            except ShardError:
                raise
            except _DATA_ERRORS as err:  # truncated or corrupt compressed stream
                chunk, error = b"".join(parts), err  # what was read before the error
            if first:
                chunk = chunk.removeprefix(_BOM)
                first = False
            inflated += len(chunk)
            over = inflated > self.max_decompressed_bytes
            if over:
                chunk = chunk[: len(chunk) - (inflated - self.max_decompressed_bytes)]
            end = not chunk or error is not None or over
            if skipping:
                newline = chunk.find(b"\n")
                skipping = newline < 0
                chunk = b"" if skipping else chunk[newline + 1:]
            cut = chunk.rfind(b"\n") + 1
            if cut:
                block = b"".join([*pending, chunk[:cut]])
                pending = [chunk[cut:]]
                pending_len = len(chunk) - cut
                yield from parser.parse(block, row, final=False)
                row = parser.row
            elif chunk:
                pending.append(chunk)
                pending_len += len(chunk)
            if end:
                if error is None and not over:
                    yield from parser.parse(b"".join(pending), row, final=True)
                    return
                if error is not None:
                    self.stats.truncated = Unreadable(
                        row, 0, "truncated_stream",
                        f"{codec or 'stream'} ended early or is corrupt after row {row}: "
                        f"{error}")
                else:
                    self.stats.truncated = Unreadable(
                        row, 0, "decompression_limit",
                        f"stopped after {self.max_decompressed_bytes} decompressed bytes "
                        f"(row {row}); raise --max-decompressed-bytes if this is genuine")
                return
            if pending_len > self.max_line_bytes:
                self.stats.unreadable.append(Unreadable(
                    row, 1, "line_too_long",
                    f"row {row}: line longer than {self.max_line_bytes} bytes; skipped"))
                row += 1
                pending, pending_len, skipping = [], 0, True


def _read_block(stream: pa.NativeFile, parts: list[bytes]) -> bytes:
    """Up to ``JSONL_BLOCK`` bytes, in small reads appended to ``parts`` (so that the caller
    keeps what came before an error)."""
    size = 0
    while size < JSONL_BLOCK:
        part = stream.read(READ_SIZE)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


class _Object(dict):
    """A JSON object that remembers which of its keys were given more than once."""

    def __init__(self, pairs: list[tuple[str, object]]):
        super().__init__(pairs)
        self.repeated: set[str] = set()
        if len(self) < len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                (self.repeated if key in seen else seen).add(key)


class _JsonlBlocks:
    """Parse complete JSONL lines block by block; bisect a block that fails."""

    def __init__(self, reader: ShardReader):
        self.reader = reader
        self.schema: pa.Schema | None = None
        self.row = 0
        self.error = ""  # the last parse error, for the message of an unreadable line
        self.bad_lines = 0  # unreadable lines found in the block being parsed

    def parse(self, block: bytes, row: int, final: bool) -> Iterator[pa.RecordBatch]:
        """Batches of the rows of ``block`` (whole lines; with ``final`` the last may lack
        its ``\\n``), shard rows from ``row`` on; ``self.row`` is then the next row."""
        if final and block and not block.endswith(b"\n"):
            block += b"\n"
        n_rows = count_rows(block)
        self.row = row + n_rows
        if not n_rows:
            return
        self.bad_lines = 0
        found = list(self._pieces(block, np.arange(row, row + n_rows, dtype=np.int64)))
        if not found:
            return
        table = pa.concat_tables([t for _, t in found]) if len(found) > 1 else found[0][1]
        rows = np.concatenate([r for r, _ in found])
        start = 0
        for batch in table.to_batches(max_chunksize=self.reader.batch_rows):
            yield from self.reader._emit(batch, int(rows[start]),
                                         rows[start:start + batch.num_rows])
            start += batch.num_rows

    def _pieces(self, data: bytes, rows: np.ndarray, screened: bool = False,
                failed: bool = False) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """``(shard rows, table)`` for the readable rows of ``data`` (whole lines, one per
        item of ``rows``): parsed whole (unless it is known to fail); or else split in two
        and each half done the same. A small piece, or any piece once the block has shown
        many bad lines, is first screened line by line (``_screened``).

        Args:
            screened: every line is known to be a JSON object (only Arrow refuses some).
            failed: ``data`` is known not to parse whole.
        """
        if not failed:
            table = self._attempt(data, len(rows))
            if table is not None:
                yield rows, table
                return
        if not screened and (len(rows) <= _LINE_BY_LINE or self.bad_lines >= _DENSE):
            yield from self._screened(data, rows)
            return
        if len(rows) == 1:
            table = self._one_line(next(x for x in data.split(b"\n") if not is_blank(x)),
                                   int(rows[0]))
            if table is not None:
                yield rows, table
            return
        mid = _middle(data)
        left_rows = count_rows(data[:mid])
        if left_rows:
            yield from self._pieces(data[:mid], rows[:left_rows], screened)
        if len(rows) - left_rows:
            yield from self._pieces(data[mid:], rows[left_rows:], screened)

    def _screened(self, data: bytes, rows: np.ndarray) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """The lines of a piece that failed, checked one by one as JSON (cheap, and names what
        is wrong); the good ones are then parsed together (bisected if that still fails)."""
        good: list[bytes] = []
        kept: list[int] = []
        lines = (x for x in data.split(b"\n") if not is_blank(x))
        for line, row in zip(lines, rows.tolist(), strict=False):
            if self._json_ok(line, row):
                good.append(line)
                kept.append(row)
        if len(good) == len(rows):  # every line is JSON: Arrow refuses something else
            yield from self._pieces(data, rows, screened=True, failed=True)
        elif good:
            yield from self._pieces(b"\n".join(good) + b"\n", np.array(kept, np.int64),
                                    screened=True)

    def _json_ok(self, line: bytes, row: int) -> bool:
        """Whether one line is a JSON object whose text field is given once; if not, the row
        is recorded unreadable. Invalid UTF-8 inside a string passes: the filter reports it,
        per row, as it does for every other format."""
        reason = "json"
        try:
            obj = json.loads(line.decode("utf-8", "surrogateescape"), object_pairs_hook=_Object)
        except (ValueError, RecursionError) as err:
            problem = f"{type(err).__name__}: {err}"
        else:
            name = self.reader.text_column
            if isinstance(obj, _Object) and name not in obj.repeated:
                return True
            if isinstance(obj, _Object):
                reason = "duplicate_text"
                problem = str(fail("E045", shard=self.reader.uri, reason=reason,
                                   where=f"row {row} (a JSON object)", count=2, column=name))
            else:
                problem = f"not a JSON object but a {type(obj).__name__}"
        self._unreadable(row, reason, problem)
        return False

    def _unreadable(self, row: int, reason: str, problem: str) -> None:
        self.bad_lines += 1
        self.reader.stats.unreadable.append(Unreadable(
            row, 1, reason, f"row {row}: {problem}"[:300]))

    def _attempt(self, data: bytes, n_rows: int) -> pa.Table | None:
        """``data`` parsed in one go into exactly ``n_rows`` rows of the shard's schema, or
        None (``self.error`` says why)."""
        try:
            table = self._parse(data)
        except ShardError:
            raise
        except _DATA_ERRORS as err:
            self.error = f"{type(err).__name__}: {err}"
            if _syntax_error(err):  # types are not the problem: inferring them is no help
                return None
            table = self._conformed(data)
        if table is not None and table.num_rows != n_rows:
            self.error = f"parsed into {table.num_rows} rows, not {n_rows}"
            return None
        return table

    def _read(self, data: bytes, schema: pa.Schema | None) -> pa.Table:
        read = pajson.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 16))
        parse = (pajson.ParseOptions(newlines_in_values=False) if schema is None else
                 pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"))
        return pajson.read_json(io.BytesIO(data), read_options=read, parse_options=parse)

    def _parse(self, data: bytes) -> pa.Table | None:
        if self.schema is not None:
            return self._read(data, self.schema)
        table = self._read(data, None)
        self._set_schema(table.schema)
        return self._conform(table)

    def _set_schema(self, schema: pa.Schema) -> None:
        name = self.reader.text_column
        index = schema.get_field_index(name)
        if index < 0:
            raise fail("E041", shard=self.reader.uri, reason="schema", column=name,
                       columns=f"{schema.names[:20]} in the first JSON lines")
        kind = schema.field(index).type
        if plain_string_type(kind) is None:
            raise fail("E042", shard=self.reader.uri, reason="schema", column=name,
                       type=kind)
        # Fields that were null in every first line become strings (their likeliest type),
        # so that later values do not all fail to parse against type "null".
        as_text = self.reader.string_columns | {name}
        self.schema = pa.schema([
            pa.field(f.name, pa.string()) if f.name in as_text or f.type == pa.null() else f
            for f in schema])
        self.reader.schema = self.schema

    def _conformed(self, data: bytes) -> pa.Table | None:
        """``data`` parsed with its own inferred types and converted to the shard's schema
        (``_conform``); None if it does not parse or a text value is not a string."""
        if self.schema is None:
            return None
        try:
            table = self._read(data, None)
        except _DATA_ERRORS as err:
            self.error = f"{type(err).__name__}: {err}"
            return None
        return self._conform(table)

    def _conform(self, table: pa.Table) -> pa.Table | None:
        """``table`` in the shard's schema: each column as it is, or converted losslessly, or
        (a string column) as JSON text; None if the text column holds a non-string value.

        Raises:
            SchemaDrift: a non-string column holds values it cannot hold.
        """
        assert self.schema is not None
        columns = []
        drifted = set()
        for item in self.schema:
            if item.name not in table.column_names:
                columns.append(pa.nulls(table.num_rows, item.type))
                continue
            column = table[item.name]
            if column.type == item.type:
                columns.append(column)
            elif item.type == pa.string() and pa.types.is_nested(column.type):
                if item.name == self.reader.text_column:
                    self.error = f"field {item.name!r} is a {column.type}, not a string"
                    return None
                columns.append(_json_text(column))
            else:
                try:
                    columns.append(column.cast(item.type, safe=True))
                except _DATA_ERRORS as err:
                    if item.type == pa.string():  # cannot happen for scalars; be safe
                        self.error = f"field {item.name!r}: {err}"
                        return None
                    drifted.add(item.name)
        if drifted:
            raise SchemaDrift(self.reader.uri, frozenset(drifted))
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _one_line(self, line: bytes, row: int) -> pa.Table | None:
        """One line that is a JSON object but that Arrow did not read: read it after all when
        a key was given twice (each keeps its last value, as in Python's ``json``), else the
        row is unreadable, with Arrow's reason."""
        problem = self.error
        obj = json.loads(line.decode("utf-8", "surrogateescape"))
        table = self._attempt(json.dumps(obj).encode() + b"\n", 1)
        if table is not None:
            return table
        self._unreadable(row, "json", problem)
        return None


def _syntax_error(err: BaseException) -> bool:
    """Whether Arrow's JSON error is about syntax (a line that is not JSON), not about a
    value that does not fit its column's type."""
    text = str(err)
    return text.startswith("JSON parse error:") and "Column(" not in text


def _middle(data: bytes) -> int:
    """A line boundary near the middle of ``data`` (whole lines, at least two): the index
    just after a ``\\n`` that is neither at the start nor at the end."""
    half = len(data) // 2
    newline = data.find(b"\n", half)
    if newline < 0 or newline + 1 >= len(data):
        newline = data.rfind(b"\n", 0, half)
    return newline + 1


def _json_text(column: pa.ChunkedArray) -> pa.Array:
    """A nested column's values as JSON text (null stays null)."""
    return pa.array([None if v is None else json.dumps(v, ensure_ascii=False, default=str)
                     for v in column.to_pylist()], pa.string())
