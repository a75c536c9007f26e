"""Output files and the exactly-once commit.

Locally every file is written under ``<out>/_tmp/``, flushed and fsynced (``finish``; all
of a shard's outputs before any is published), renamed into place and its directory
fsynced (``publish``); the shard's JSON marker is committed the same way, last, so a shard
is done *if and only if* its marker exists. Nothing is published through a symlink that
leads out of the output directory. On an object store there is no rename:
a file is uploaded straight to its final key (an upload becomes visible only when it
completes) and the marker is uploaded last.

Parquet outputs use zstd, page checksums and row groups of about ``row_group_bytes``;
nothing in them depends on time, host or worker, so reruns produce the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq

from engine.errors import EngineError, fail
from engine.io.remote import url_to_fs
from engine.io.shards import is_remote

ROW_GROUP_BYTES = 128 << 20
#: errnos that say the output directory itself is unusable (a usage error, exit 2) rather
#: than a disk that failed or filled up while writing (an ``OutputError``, exit 1)
UNUSABLE_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                             errno.EEXIST, errno.EISDIR, errno.ELOOP, errno.ENAMETOOLONG})


def output_error(err: OSError, root: str, path: str) -> EngineError:
    """The coded error for a run file (lock, manifest, report) that cannot be written:
    E001 when the output directory cannot be used at all (read-only, not a directory, no
    permission), E048 when writing failed (disk full, file too large, I/O error)."""
    problem = err.strerror or str(err)
    if err.filename and os.fspath(err.filename) != path:  # e.g. _tmp/ is a file
        problem += f": {os.fspath(err.filename)!r}"
    if err.errno in UNUSABLE_ERRNOS:
        return fail("E001", argument=f"output {root!r}", problem=f"cannot write {path!r} "
                    f"({problem}); use a writable directory for the output")
    return fail("E048", path=path, problem=problem)


class Output:
    """An output directory, local or remote, with atomic publication of files in it."""

    def __init__(self, root: str, storage_options: dict | None = None):
        self.remote = is_remote(root)
        self.root = root.rstrip("/") if self.remote else os.path.abspath(
            root.removeprefix("file://"))
        if self.remote:
            self.fs, self.base = url_to_fs(self.root, storage_options)
        else:
            self.fs, self.base = None, self.root

    def path(self, rel: str) -> str:
        """The full path of ``rel`` below the root; refuses anything that escapes it."""
        norm = posixpath.normpath(rel)
        if norm.startswith("../") or norm == ".." or posixpath.isabs(norm):
            raise ValueError(f"output name {rel!r} escapes the output directory")
        return posixpath.join(self.base, norm) if self.remote else os.path.join(self.base, norm)

    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel)) if self.remote else os.path.exists(self.path(rel))

    def size(self, rel: str) -> int | None:
        """The size of file ``rel`` in bytes (one HEAD request on a store), None if absent."""
        try:
            if self.remote:
                return int(self.fs.info(self.path(rel))["size"])
            return os.path.getsize(self.path(rel))
        except (OSError, KeyError, TypeError, ValueError):  # not there, or not readable
            return None

    def read_text(self, rel: str) -> str | None:
        """A small file's text, or None if it does not exist."""
        try:
            if self.remote:
                return self.fs.cat_file(self.path(rel)).decode()
            with open(self.path(rel), encoding="utf-8") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def list_files(self, rel_dir: str) -> set[str]:
        """Relative paths of every file under ``rel_dir`` (one listing, not one call per
        file: on an object store a resume then costs one LIST, not a GET per shard)."""
        base = self.path(rel_dir)
        if self.remote:
            self.fs.invalidate_cache(base)  # workers wrote there since our last listing
            try:
                found = self.fs.find(base)
            except FileNotFoundError:
                return set()
            return {posixpath.relpath(p, self.base) for p in found}
        paths: set[str] = set()
        for root, _, files in os.walk(base):
            paths.update(os.path.relpath(os.path.join(root, f), self.base).replace(os.sep, "/")
                         for f in files)
        return paths

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create ``rel`` only if it does not exist (O_EXCL locally, ``If-None-Match: *`` on
        S3); False if it already exists."""
        path = self.path(rel)
        try:
            if self.remote:
                with self.fs.open(path, "xb") as fh:
                    fh.write(data)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
        except FileExistsError:
            return False
        return True

    def open_read(self, rel: str):
        """A binary file object for reading ``rel``."""
        path = self.path(rel)
        return self.fs.open(path, "rb") if self.remote else open(path, "rb")  # noqa: SIM115

    def remove(self, rel: str) -> None:
        try:
            if self.remote:
                self.fs.rm_file(self.path(rel))
            else:
                os.unlink(self.path(rel))
        except FileNotFoundError:
            pass

    def abort_stale_uploads(self) -> int:
        """Abort unfinished S3 multipart uploads under the root (left by killed writers).

        Call only while no other run writes here; returns how many were aborted.
        """
        if not self.remote or not hasattr(self.fs, "list_multipart_uploads"):
            return 0
        bucket, _, prefix = self.base.partition("/")
        aborted = 0
        for upload in self.fs.list_multipart_uploads(bucket):
            if upload.get("Key", "").startswith(prefix):
                self.fs.call_s3("abort_multipart_upload", Bucket=bucket, Key=upload["Key"],
                                UploadId=upload["UploadId"])
                aborted += 1
        return aborted

    def open_staged(self, rel: str, tag: str) -> StagedFile:
        """A file that becomes ``rel`` only when committed (see ``StagedFile``)."""
        return StagedFile(self, rel, tag)

    def check_usable(self) -> None:
        """Locally, refuse a root that exists and is not a directory (the run's lock then
        creates it; ``output_error`` words what that can meet).

        Raises:
            UsageError: E001.
        """
        if not self.remote and os.path.lexists(self.base) and not os.path.isdir(self.base):
            raise fail("E001", argument=f"output {self.root!r}", problem="exists and is "
                       "not a directory; the output must be a directory")

    def write_json(self, rel: str, data: dict, tag: str, shard: str | None = None) -> None:
        """Commit a JSON document atomically (the marker and manifest path).

        Raises:
            OutputError: E047 for a shard's marker (``shard`` given); otherwise E048, or a
                UsageError E001 when the output cannot be used at all (``output_error``).
        """
        payload = (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()
        self.write_bytes(rel, payload, tag, shard)

    def write_bytes(self, rel: str, payload: bytes, tag: str, shard: str | None = None
                    ) -> None:
        """Commit a small file atomically (``write_json``'s path; the HTML report's too)."""
        staged = None
        try:
            staged = self.open_staged(rel, tag)
            staged.file.write(payload)
            staged.commit()
        except OSError as err:
            if staged is not None:
                staged.abort()
            if isinstance(err, EngineError):  # E065: a symlink leads out of the output
                raise
            if shard is not None:
                raise fail("E047", shard=shard, path=rel, root=self.root,
                           problem=err.strerror or err) from err
            raise output_error(err, self.root, self.path(rel)) from err


class StagedFile:
    """Write to a temporary name (local) or the final key (remote); ``commit`` publishes.

    The content's size and sha256 are computed while writing, for the shard's marker.
    """

    def __init__(self, out: Output, rel: str, tag: str):
        self.out, self.rel = out, rel
        self.final = out.path(rel)
        self.sha = hashlib.sha256()
        self.size = 0
        self.temp: str | None = None  # the local temporary name; None on an object store
        if out.remote:
            self._fh = out.fs.open(self.final, "wb")
        else:
            tmp_dir = os.path.join(out.base, "_tmp")
            os.makedirs(tmp_dir, exist_ok=True)
            flat = rel.replace("/", "__")[-150:]
            self.temp = os.path.join(tmp_dir, f"{flat}.{tag}.{os.getpid()}.tmp")
            self._fh = open(self.temp, "wb")  # noqa: SIM115 - closed in commit/abort
        self.file = _Hashing(self)

    def finish(self) -> None:
        """Flush and fsync the temporary file (remote: complete the upload, now visible)."""
        if self.out.remote:
            self._fh.close()
        else:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def publish(self) -> dict:
        """Rename into place and fsync the directory; returns path, size and sha256."""
        if self.temp is not None:
            parent = os.path.dirname(self.final)
            os.makedirs(parent, exist_ok=True)
            root = os.path.realpath(self.out.base)
            if os.path.commonpath([os.path.realpath(parent), root]) != root or os.path.islink(
                    self.final):
                raise fail("E065", path=self.final, root=root)
            os.replace(self.temp, self.final)
            _fsync_dir(parent)
        return {"path": self.rel, "bytes": self.size, "sha256": self.sha.hexdigest()}

    def commit(self) -> dict:
        """``finish`` then ``publish``."""
        self.finish()
        return self.publish()

    def abort(self) -> None:
        """Drop the partial file (local temp); a remote upload that never closes never shows."""
        with contextlib.suppress(OSError):
            if self.temp is not None:
                with contextlib.suppress(OSError):  # closing can fail (ENOSPC): unlink anyway
                    self._fh.close()
                os.unlink(self.temp)
            else:
                discard = getattr(self._fh, "discard", None)  # s3fs: abort the multipart upload
                if discard:
                    discard()


class _Hashing:
    """File-like wrapper counting and hashing what Parquet writes through it."""

    def __init__(self, staged: StagedFile):
        self._staged = staged
        self.closed = False

    def write(self, data) -> int:
        view = memoryview(data)
        self._staged._fh.write(view)
        self._staged.sha.update(view)
        self._staged.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._staged._fh.flush()

    def close(self) -> None:  # the ParquetWriter closes its sink; commit does the real close
        self.closed = True

    def tell(self) -> int:
        return self._staged.size

    def writable(self) -> bool:
        return True


class ParquetSink:
    """Buffer batches into row groups of about ``row_group_bytes`` and write them."""

    def __init__(self, staged: StagedFile, schema: pa.Schema,
                 row_group_bytes: int = ROW_GROUP_BYTES):
        self.staged = staged
        self.schema = schema
        self.row_group_bytes = row_group_bytes
        self.rows = 0
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0
        self._writer = pq.ParquetWriter(
            staged.file, schema, compression="zstd", write_page_checksum=True,
            store_schema=True,
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._buffer.append(batch)
        self._buffered += batch.nbytes
        self.rows += batch.num_rows
        if self._buffered >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            table = pa.Table.from_batches(self._buffer, schema=self.schema)
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._buffer, self._buffered = [], 0

    def finish(self) -> None:
        """Write the last row group and the footer; the file is durable under its temp name."""
        self._flush()
        self._writer.close()
        self.staged.finish()

    def publish(self) -> dict:
        return {**self.staged.publish(), "rows": self.rows}

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the file is being thrown away
            self._writer.close()
        self.staged.abort()


class ShardOutputs:
    """The staged Parquet outputs of one shard (``kept``, ``removed``), created on first
    write, finished together, then published together: all of them or none.

    A failing disk (``ENOSPC``, ``EFBIG``, ``EIO``) becomes an ``OutputError`` [E047] naming
    the shard and the file, after every staged file has been removed and every output of
    the shard already published has been taken back (``unpublish``), so that no
    final-named output is left without its marker.
    """

    def __init__(self, out: Output, uri: str, paths: dict[str, str], row_group_bytes: int):
        self.out, self.uri, self.paths = out, uri, paths
        self.row_group_bytes = row_group_bytes
        self.sinks: dict[str, ParquetSink] = {}
        self.visible: list[str] = []  # final names published (remote: uploads completed)

    def write(self, name: str, table: pa.Table, create_empty: bool = False) -> None:
        if not table.num_rows and not create_empty:
            return
        with self._failing(name):
            sink = self.sinks.get(name)
            if sink is None:
                sink = self.sinks[name] = ParquetSink(
                    self.out.open_staged(self.paths[name], name), table.schema,
                    self.row_group_bytes)
            for batch in table.to_batches():
                sink.write(batch)

    def __contains__(self, name: str) -> bool:
        return name in self.sinks

    def finish(self) -> None:
        """Every output durable under its temporary name (remote: uploaded, visible)."""
        for name, sink in self.sinks.items():
            with self._failing(name):
                sink.finish()
                if self.out.remote:
                    self.visible.append(self.paths[name])

    def publish(self) -> dict:
        """Rename every output into place; ``{name: {path, bytes, sha256, rows}}``.

        Every target directory is created (and checked) before the first rename, so the
        usual failures leave nothing published; a rename that still fails takes back the
        renames before it.
        """
        if not self.out.remote:
            for name in self.sinks:
                with self._failing(name):
                    os.makedirs(os.path.dirname(self.out.path(self.paths[name])),
                                exist_ok=True)
        published = {}
        for name, sink in sorted(self.sinks.items()):
            with self._failing(name):
                published[name] = sink.publish()
                if not self.out.remote:
                    self.visible.append(self.paths[name])
        return published

    def unpublish(self) -> None:
        """Remove the outputs already published (best effort): the marker could not be
        committed, and a final-named output must not outlive a failed commit."""
        for rel in self.visible:
            with contextlib.suppress(OSError):
                self.out.remove(rel)
        self.visible = []

    def abort(self) -> None:
        for sink in self.sinks.values():
            sink.abort()
        self.sinks = {}
        self.unpublish()

    @contextlib.contextmanager
    def _failing(self, name: str):
        try:
            yield
        except BaseException as err:  # E065 and interruptions too: nothing half-published
            self.abort()
            if not isinstance(err, OSError) or isinstance(err, EngineError):
                raise
            raise fail("E047", shard=self.uri, path=self.paths[name], root=self.out.root,
                       problem=err.strerror or err) from err


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
