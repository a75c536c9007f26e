"""Shard readers: Parquet, JSONL (plain, gzip, zstd) and Arrow IPC, chosen by magic bytes.

A reader yields record batches with bounded memory (Parquet one row group at a time; JSONL
in blocks of a few MB) and accounts for every row it could not turn into a batch: a row
group that does not decode, a JSONL line that does not parse, or the unknown tail of a
truncated or over-limit compressed stream. Whatever is wrong with a whole shard (no such
file, no footer, no text column) raises ``ShardError`` naming the shard; the runner then
quarantines it and goes on.

JSONL columns and types come from the shard's first block (8 MB); later lines are parsed
against that schema: a line whose types differ is reported unreadable, and a field that
first appears after the first block is not carried into the outputs (a known limit).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from engine.errors import ShardError, fail
from engine.io.arrow_buffers import as_string_array, plain_string_type
from engine.io.remote import url_to_fs

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
#: One JSON line longer than this stops the shard (memory bound for newline-free input).
MAX_LINE_BYTES = 512 << 20
#: What malformed or truncated data raises; anything else (MemoryError, bugs) propagates.
_DATA_ERRORS = (pa.ArrowException, OSError, EOFError, ValueError)
_BLANK = re.compile(rb"(?m)^[ \t\r]*$")


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


def open_binary(uri: str, storage_options: dict | None = None):
    """A seekable binary file object for a local path or an fsspec URL."""
    try:
        if "://" in uri and not uri.startswith("file://"):
            fs, path = url_to_fs(uri, storage_options)
            return fs.open(path, "rb")
        return open(uri.removeprefix("file://"), "rb")  # noqa: SIM115 - caller closes
    except FileNotFoundError as err:
        raise fail("E046", shard=uri, reason="not_found",
                   problem="file not found (deleted, or a dangling symlink)") from err
    except IsADirectoryError as err:
        raise fail("E046", shard=uri, reason="not_a_file",
                   problem="is a directory, not a data file") from err
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
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
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
    """

    def __init__(self, uri: str, text_column: str, batch_rows: int = 8192,
                 max_decompressed_bytes: int = 64 << 30, storage_options: dict | None = None,
                 row_groups: tuple[int, int] | None = None):
        self.uri = uri
        self.row_groups = row_groups
        self.text_column = text_column
        self.batch_rows = batch_rows
        self.max_decompressed_bytes = max_decompressed_bytes
        self.storage_options = storage_options
        self.stats = ReadStats()
        self.schema: pa.Schema | None = None  # once known: the columns every batch has
        self.position = 0  # shard row index of the batch just yielded

    def __iter__(self) -> Iterator[pa.RecordBatch]:
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
        index = schema.get_field_index(self.text_column)
        if index < 0:
            raise fail("E041", shard=self.uri, reason="schema", column=self.text_column,
                       columns=schema.names[:20])
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

    # -- Parquet -------------------------------------------------------------------------
    def _parquet(self, fh) -> Iterator[pa.RecordBatch]:
        try:
            pf = pq.ParquetFile(fh)
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
                for batch in pf.iter_batches(batch_size=self.batch_rows, row_groups=[rg],
                                             use_threads=False):
                    self.position = row + done
                    done += batch.num_rows
                    yield self._normalize(batch)
            except _DATA_ERRORS as err:
                self.stats.unreadable.append(Unreadable(
                    row + done, rg_rows - done, "parquet_decode",
                    f"row group {rg} (rows {row + done}..{row + rg_rows - 1}): {err}"))
            row += rg_rows

    # -- Arrow IPC -----------------------------------------------------------------------
    def _ipc(self, fh, fmt: str) -> Iterator[pa.RecordBatch]:
        try:
            reader = pa.ipc.open_file(fh) if fmt == "ipc-file" else pa.ipc.open_stream(fh)
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
                batch.validate(full=False)
                for start in range(0, batch.num_rows, self.batch_rows):
                    part = batch.slice(start, self.batch_rows)
                    self.position = row
                    row += part.num_rows
                    yield self._normalize(part)
        except _DATA_ERRORS as err:
            self.stats.truncated = Unreadable(row, 0, "ipc", f"after row {row}: {err}")

    # -- JSON lines ----------------------------------------------------------------------
    def _jsonl(self, fh, codec: str | None) -> Iterator[pa.RecordBatch]:
        raw = pa.PythonFile(fh, mode="r")
        stream = pa.CompressedInputStream(raw, codec) if codec else raw
        parser = _JsonlBlocks(self)
        pending = b""
        inflated = 0
        row = 0
        first = True
        while True:
            parts: list[bytes] = []
            try:
                chunk = _read_block(stream, parts)
            except _DATA_ERRORS as err:  # truncated or corrupt compressed stream
                data = pending + b"".join(parts)  # what was read before the error
                cut = data.rfind(b"\n") + 1
                yield from parser.parse(data[:cut], row, final=True)
                row = parser.row
                self.stats.truncated = Unreadable(
                    row, 0, "truncated_stream",
                    f"{codec or 'stream'} ended early or is corrupt after row {row}: {err}")
                return
            if first:
                chunk = chunk.removeprefix(b"\xef\xbb\xbf")
                first = False
            inflated += len(chunk)
            if inflated > self.max_decompressed_bytes:
                data = pending + chunk[: len(chunk) - (inflated - self.max_decompressed_bytes)]
                cut = data.rfind(b"\n") + 1
                yield from parser.parse(data[:cut], row, final=True)
                self.stats.truncated = Unreadable(
                    parser.row, 0, "decompression_limit",
                    f"stopped after {self.max_decompressed_bytes} decompressed bytes "
                    f"(row {parser.row}); raise --max-decompressed-bytes if this is genuine")
                return
            if not chunk:
                yield from parser.parse(pending, row, final=True)
                return
            data = pending + chunk
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if len(pending) > MAX_LINE_BYTES:
                yield from parser.parse(data[:cut], row, final=True)
                self.stats.truncated = Unreadable(
                    parser.row, 0, "line_too_long",
                    f"line at row {parser.row} is longer than {MAX_LINE_BYTES} bytes")
                return
            if cut:
                yield from parser.parse(data[:cut], row, final=False)
                row = parser.row


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


class _JsonlBlocks:
    """Parse complete JSONL lines block by block; fall back line by line on errors."""

    def __init__(self, reader: ShardReader):
        self.reader = reader
        self.schema: pa.Schema | None = None
        self.row = 0

    def parse(self, block: bytes, row: int, final: bool) -> Iterator[pa.RecordBatch]:
        self.row = row
        if not block.strip():
            return
        if final and not block.endswith(b"\n"):
            block += b"\n"
        n_rows = block.count(b"\n") - len(_BLANK.findall(block)) + 1  # +1: tail after last \n
        table = self._fast(block, n_rows)
        if table is None:
            table = self._line_by_line(block, row)
        self.row = row + n_rows
        for batch in table.to_batches(max_chunksize=self.reader.batch_rows):
            self.reader.position = row  # approximate when the block had bad lines
            row += batch.num_rows
            yield self.reader._normalize(batch)

    def _options(self, block_len: int):
        read = pajson.ReadOptions(use_threads=False, block_size=max(block_len + 1, 1 << 16))
        if self.schema is None:
            return read, pajson.ParseOptions(newlines_in_values=False)
        return read, pajson.ParseOptions(explicit_schema=self.schema,
                                         unexpected_field_behavior="ignore")

    def _parse(self, data: bytes) -> pa.Table:
        read, parse = self._options(len(data))
        table = pajson.read_json(io.BytesIO(data), read_options=read, parse_options=parse)
        if self.schema is None:
            self._set_schema(table.schema)
            table = table.cast(self.schema)
        return table

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
        self.schema = pa.schema([
            pa.field(f.name, pa.string()) if f.name == name or f.type == pa.null() else f
            for f in schema])
        self.reader.schema = self.schema

    def _fast(self, block: bytes, n_rows: int) -> pa.Table | None:
        try:
            table = self._parse(block)
        except ShardError:
            raise
        except _DATA_ERRORS:  # types drifted, or a bad line: try the first, then find it
            table = self._conformed(block)
        return table if table is not None and table.num_rows == n_rows else None

    def _conformed(self, block: bytes) -> pa.Table | None:
        """Parse the block with its own inferred types and cast it, losslessly, to the
        shard's schema (e.g. a field typed int64 so far that holds 2.0); None if that fails."""
        if self.schema is None:
            return None
        try:
            read = pajson.ReadOptions(use_threads=False, block_size=max(len(block) + 1, 1 << 16))
            table = pajson.read_json(io.BytesIO(block), read_options=read)
            columns = [
                table[f.name].cast(f.type, safe=True) if f.name in table.column_names
                else pa.nulls(table.num_rows, f.type) for f in self.schema]
        except _DATA_ERRORS:
            return None
        return pa.Table.from_arrays(columns, schema=self.schema)

    def _line_by_line(self, block: bytes, row: int) -> pa.Table:
        """Slow path for a block with a bad line: parse each line, record the bad ones."""
        tables = []
        lines = [ln for ln in block.split(b"\n") if ln.strip()]
        for i, line in enumerate(lines):
            try:
                if not line.lstrip().startswith(b"{"):
                    raise ValueError("not a JSON object")
                json.loads(line)  # names what is wrong when Arrow would only say "invalid"
                table = self._parse(line + b"\n")
                if table.num_rows != 1:
                    raise ValueError(f"parsed into {table.num_rows} rows")
                tables.append(table)
            except ShardError:
                raise
            except _DATA_ERRORS as err:
                self.reader.stats.unreadable.append(Unreadable(
                    row + i, 1, "json", f"row {row + i}: {type(err).__name__}: {err}"[:300]))
        if self.schema is None:
            return pa.table({self.reader.text_column: pa.array([], pa.string())})
        return pa.concat_tables(tables) if tables else self.schema.empty_table()

