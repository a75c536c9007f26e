"""Input discovery: paths, globs (``**`` too) and URLs become a sorted list of shards.

Every shard gets a *relative name* (its path below the glob's fixed prefix) that output
files and markers mirror, and a fingerprint (size plus mtime or ETag) that a resumed run
compares. Duplicates (the same file through two globs, a symlink or ``./a/../a``) are
processed once; output names that would collide are refused before any work starts.
Local globs walk the tree without following symlinked directories, so a symlink loop
cannot make discovery run forever.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from engine.errors import fail
from engine.io.remote import url_to_fs

#: Suffixes stripped from an input name to make its output name (``a/b.jsonl.zst`` -> ``a/b``).
DATA_SUFFIXES = (".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".arrow", ".ipc",
                 ".feather", ".gz", ".zst", ".zstd")
_GLOB_CHARS = re.compile(r"[*?\[]")
_KINDS = {stat.S_IFIFO: "fifo", stat.S_IFCHR: "character device", stat.S_IFBLK: "block device",
          stat.S_IFSOCK: "socket"}


@dataclass(frozen=True)
class Shard:
    """One input file.

    Attributes:
        uri: what readers open: an absolute local path or a URL such as ``s3://b/k``.
        rel: the relative name outputs mirror (``a/b.parquet``).
        size: bytes on disk or in the store.
        version: ``mtime_ns`` (local) or the ETag (object stores), as a string.
        row_groups: ``(first, stop)`` when a large Parquet file is split into work units
            by row-group ranges; None for the whole file.
    """

    uri: str
    rel: str
    size: int
    version: str
    row_groups: tuple[int, int] | None = None

    @property
    def unit(self) -> str:
        """The work unit's name: ``rel``, or ``rel@rg<first>-<last>`` for a split file."""
        if self.row_groups is None:
            return self.rel
        return f"{self.rel}@rg{self.row_groups[0]:05d}-{self.row_groups[1] - 1:05d}"

    @property
    def stem(self) -> str:
        """``rel`` without its data suffixes: the base of every output name (computed once:
        collision checks and every output name use it)."""
        stem = self.__dict__.get("_stem")
        if stem is None:
            stem = self.__dict__["_stem"] = self._strip_suffixes()
        return stem

    def _strip_suffixes(self) -> str:
        name = self.rel
        changed = True
        while changed:
            changed = False
            for suffix in DATA_SUFFIXES:
                if name.lower().endswith(suffix) and len(name) > len(suffix):
                    name, changed = name[: -len(suffix)], True
        if self.row_groups is not None:
            name += self.unit[len(self.rel):].replace("@", ".")
        return name

    def fingerprint(self) -> dict:
        return {"uri": self.uri, "rel": self.rel, "size": self.size, "version": self.version}


def is_remote(uri: str) -> bool:
    """True for URLs served through fsspec (``s3://``, ``gs://``...); ``file://`` is local."""
    return "://" in uri and not uri.startswith("file://")


def discover(inputs: str | list[str], storage_options: dict | None = None,
             skipped: list[dict] | None = None) -> list[Shard]:
    """Expand paths and globs into shards sorted by relative name.

    Matched entries that are not regular files (a FIFO, a device, a socket: reading one
    could block forever) are skipped with a note on stderr and, when ``skipped`` is given,
    appended to it as ``{"path", "kind"}`` so that the run's report lists them.

    Raises:
        UsageError: E002 when nothing matched, E003 when two inputs map to one output name.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    found: dict[object, Shard] = {}
    duplicates = []
    for pattern in map(str, inputs):
        for key, shard in _expand(pattern, storage_options or {}, skipped):
            if key in found:
                duplicates.append((shard.uri, found[key].uri))
                continue
            found[key] = shard
    if duplicates:
        listed = "; ".join(f"{a} = {b}" for a, b in duplicates[:5])
        print(f"filter-engine: note: {len(duplicates)} duplicate input(s) processed once: "
              f"{listed}", file=sys.stderr)
    if not found:
        raise fail("E002", inputs=list(map(str, inputs)))
    shards = sorted(found.values(), key=lambda s: s.rel)
    check_collisions(shards)
    return shards


def check_collisions(shards: list[Shard]) -> None:
    """Refuse work units whose final output or marker names would be the same, or where
    one such name would have to be a directory of another.

    Checked on the names the run writes, after any split: ``x.jsonl`` and ``x.jsonl.gz``
    (one stem), an input literally named ``x.rg00002-00003.parquet`` beside a large
    ``x.parquet`` split into that range, ``a.jsonl`` beside ``a.parquet/b.jsonl``.
    """
    owners: dict[tuple[str, str], Shard] = {}
    dirs: dict[str, Shard] = {}  # every directory the names need -> a shard needing it
    clashes = []
    for shard in shards:  # kept/<stem>.parquet (and removed/), _done/<unit>.json
        for key in (("out", f"{shard.stem}.parquet"), ("marker", f"{shard.unit}.json")):
            other = owners.setdefault(key, shard)
            if other is not shard:
                clashes.append(f"{_describe(other)} and {_describe(shard)} -> {key[1]!r}")
        parent = shard.rel.rpartition("/")[0]  # stem and unit keep rel's directories
        while parent and parent not in dirs:
            dirs[parent] = shard
            parent = parent.rpartition("/")[0]
    for (_, name), shard in owners.items():
        if name in dirs:
            clashes.append(f"{_describe(shard)} and {_describe(dirs[name])} -> {name!r} "
                           "would be a file and a directory")
    if clashes:
        raise fail("E003", clashes="; ".join(clashes[:10]))


def _describe(shard: Shard) -> str:
    if shard.row_groups is None:
        return repr(shard.uri)
    first, stop = shard.row_groups
    return f"{shard.uri!r} (row groups {first}-{stop - 1})"


def check_output_outside_inputs(inputs: str | list[str], root: str,
                                planned: Callable[[], Iterable[str]],
                                shards: list[Shard]) -> None:
    """Refuse an output directory that overlaps the inputs.

    Two ways to overlap: a file the run writes would be matched by an input path or glob,
    so that the next run reads its own outputs as new inputs (``run in/ -o in/``,
    ``run 'in/**' -o in/out``); or an input lies in the part of ``root`` the run writes
    (``run out/kept -o out``), so that an output would replace its own input.
    ``planned()`` lists the files the run writes, relative to ``root``; it is called only
    when the output lies under an input's directory or an input under the output.
    Decided from names alone, so local paths and URLs (``s3://``) are checked alike,
    without listing anything. An output beside the inputs that no input glob reaches
    (``run 'in/*.parquet' -o in/out``) is fine.

    Raises:
        UsageError: E009 naming the output, the input and the overlapping file.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    out_root = _comparable(str(root))
    roots = {out_root, str(root).rstrip("/") if is_remote(str(root)) else os.path.abspath(
        str(root).removeprefix("file://"))}
    prefixes = tuple(r.rstrip("/") + "/" for r in roots)
    tops: set[str] | None = None
    for shard in shards:  # local shard URIs are absolute already: no realpath per shard
        uri = shard.uri.removeprefix("file://")
        if not uri.startswith(prefixes):
            continue
        if tops is None:
            tops = {p.split("/", 1)[0] for p in planned()}
        inside = next(uri[len(p):] for p in prefixes if uri.startswith(p))
        if inside.split("/", 1)[0] in tops:
            raise fail("E009", root=str(root), input=shard.uri, problem=f"the input is "
                       f"where this run writes its {inside.split('/', 1)[0]!r} files, so an "
                       "output could replace an input")
    for pattern in map(str, inputs):
        comparable = _comparable(pattern)
        if _GLOB_CHARS.search(comparable):
            base = _fixed_prefix(comparable).rstrip("/") or "/"
            matcher = re.compile(_glob_regex(comparable[len(base):].lstrip("/")))
        else:
            base, matcher = comparable.rstrip("/") or "/", None  # a directory: all of it
        below = _relative_to(out_root, base)
        if below is None:
            continue
        for rel in planned():
            path = rel if below == "" else f"{below}/{rel}"
            if matcher is None or matcher.match(path):
                raise fail("E009", root=str(root), input=pattern, problem="the input would "
                           f"read this run's own output {rel!r} as a new input on the next run")


def _comparable(location: str) -> str:
    """A path or URL in one form for prefix tests: local paths absolute and resolved
    (symlinks too), URLs as ``scheme://path`` without a trailing slash."""
    if is_remote(location):
        return location.rstrip("/")
    location = os.path.expanduser(location.removeprefix("file://"))
    if _GLOB_CHARS.search(location):  # resolve only the fixed part of a glob
        base = _fixed_prefix(os.path.abspath(location))
        return os.path.realpath(base) + "/" + os.path.abspath(location)[len(base):].lstrip(
            "/")
    return os.path.realpath(location)


def _relative_to(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` ('' when equal), or None when it is not below it."""
    if path == base:
        return ""
    prefix = base if base.endswith("/") else base + "/"
    return path[len(prefix):] if path.startswith(prefix) else None


def split_large(shards: list[Shard], max_unit_bytes: int | None,
                storage_options: dict | None = None) -> list[Shard]:
    """Split Parquet files bigger than ``max_unit_bytes`` into row-group ranges.

    Ranges are consecutive row groups whose compressed size stays within the limit (at
    least one group each); they depend only on the file and the limit, never on the worker
    count, so output names and bytes stay the same across runs.

    Raises:
        UsageError: E003 when a unit's final name (``x.rg00002-00003``) is also another
            input's name.
    """
    if not max_unit_bytes:
        return shards
    from engine.io.readers import open_binary, sniff

    units = []
    for shard in shards:
        if shard.size <= max_unit_bytes:
            units.append(shard)
            continue
        try:
            import pyarrow.parquet as pq

            with open_binary(shard.uri, storage_options) as fh:
                if sniff(fh.read(8), shard.uri)[0] != "parquet":
                    units.append(shard)
                    continue
                fh.seek(0)
                meta = pq.ParquetFile(fh).metadata
        except Exception:  # unreadable: the worker reports it, as for any shard
            units.append(shard)
            continue
        start, size = 0, 0
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            rg_bytes = sum(group.column(c).total_compressed_size
                           for c in range(group.num_columns))
            if rg > start and size + rg_bytes > max_unit_bytes:
                units.append(replace(shard, row_groups=(start, rg)))
                start, size = rg, 0
            size += rg_bytes
        if meta.num_row_groups and start == 0:
            units.append(shard)  # one unit after all: keep the plain name
        elif meta.num_row_groups:
            units.append(replace(shard, row_groups=(start, meta.num_row_groups)))
        else:
            units.append(shard)
    if len(units) != len(shards):
        check_collisions(units)  # split names are new names: check them as well
    return units


def _expand(pattern: str, storage_options: dict, skipped: list[dict] | None = None):
    if is_remote(pattern):
        yield from _expand_remote(pattern, storage_options)
        return
    if pattern.startswith("file://"):
        pattern = pattern[len("file://"):]
    pattern = os.path.abspath(os.path.expanduser(pattern))
    if not _GLOB_CHARS.search(pattern):
        if not os.path.isdir(pattern):
            if os.path.lexists(pattern):
                yield from _local_shard(pattern, os.path.dirname(pattern), skipped)
            return
        base, matcher = pattern, None
    else:
        base = _fixed_prefix(pattern)
        matcher = re.compile(_glob_regex(pattern[len(base):].lstrip("/")))
    tail = pattern[len(base):].lstrip("/") if matcher is not None else ""
    depth = None if matcher is None or "**" in tail else tail.count("/")
    for path in _walk(base, matcher, depth):
        yield from _local_shard(path, base, skipped)


def _walk(base: str, matcher, max_depth: int | None):
    """Files under ``base`` whose relative path matches; symlinked dirs are not entered,
    and without ``**`` no deeper than the pattern's own directory levels."""
    for root, dirs, files in os.walk(base, followlinks=False):
        rel_root = os.path.relpath(root, base)
        level = 0 if rel_root == "." else rel_root.count(os.sep) + 1
        if max_depth is not None and level >= max_depth:
            dirs[:] = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            if matcher is None or matcher.match(rel):
                yield path


def _local_shard(path: str, base: str, skipped: list[dict] | None = None):
    rel = os.path.relpath(path, base).replace(os.sep, "/")
    try:
        st = os.stat(path)
    except OSError:
        # A dangling symlink: keep it, so the run reports it unreadable instead of losing it.
        yield ("missing", path), Shard(path, rel, -1, "missing")
        return
    if not stat.S_ISREG(st.st_mode):
        if not stat.S_ISDIR(st.st_mode):  # a FIFO or device would block or never end
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            print(f"filter-engine: note: skipping {path!r}: {kind}, not a regular file",
                  file=sys.stderr)
            if skipped is not None:
                skipped.append({"path": path, "kind": kind})
        return
    yield (st.st_dev, st.st_ino), Shard(path, rel, st.st_size, str(st.st_mtime_ns))


def _fixed_prefix(pattern: str) -> str:
    head = _GLOB_CHARS.split(pattern, maxsplit=1)[0]
    return head if head.endswith("/") and head != "/" else os.path.dirname(head)


def _glob_regex(pattern: str) -> str:
    """Translate a glob (``**`` spans directories, ``*`` does not) to a regex."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(r".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append(r"[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape("["))
                i += 1
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"\Z"


def _expand_remote(pattern: str, storage_options: dict):
    fs, path = url_to_fs(pattern, storage_options)
    protocol = pattern.split("://", 1)[0]
    if _GLOB_CHARS.search(path):
        base = _fixed_prefix(path).rstrip("/")
        paths = fs.glob(path, detail=True)
    elif fs.isdir(path):
        base = path.rstrip("/")
        paths = fs.find(path, detail=True)
    else:
        base = str(PurePosixPath(path).parent)
        paths = {path: fs.info(path)}
    for p, info in sorted(paths.items()):
        if info.get("type") != "file":
            continue
        rel = p[len(base):].lstrip("/") if p.startswith(base) else PurePosixPath(p).name
        version = str(info.get("ETag") or info.get("etag") or info.get("mtime") or "")
        uri = f"{protocol}://{p}"
        yield uri, Shard(uri, rel, int(info.get("size") or 0), version.strip('"'))
