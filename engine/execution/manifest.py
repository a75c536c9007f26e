"""Run state in the output directory: the manifest, the lock and the shard markers.

``_manifest.json`` is written before any shard is touched: the input list with sizes and
mtimes (or ETags) and the filter's fingerprint. Re-running the same command finds it and
resumes, skipping every shard whose marker ``_done/<shard>.json`` exists and matches the
current input and filter, and whose outputs still have the size and sha256 the marker
recorded (``OutputCheck``); if the inputs or the filter changed it refuses, listing the
changes, unless forced. ``_lock`` keeps two runs off one output directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from functools import partial

from engine._version import __version__
from engine.errors import EngineError, fail
from engine.io.shards import Shard
from engine.io.writers import Output, output_error

MANIFEST = "_manifest.json"
LOCK = "_lock"
VERIFIED = "_verified.json"
FORMAT = 1


def marker_path(shard: Shard) -> str:
    return f"_done/{shard.unit}.json"


def build_manifest(shards: list[Shard], spec_dict: dict, fingerprint: str,
                   max_unit_bytes: int | None = None, hashes: dict | None = None) -> dict:
    """The manifest; ``hashes``: content hashes of the lists and models that decide
    (``engine.filter.audit.stage_hashes``), the same the removed rows' ``fe_decided_by``
    and the report name."""
    return {
        "format": FORMAT,
        "engine": __version__,
        "spec_fingerprint": fingerprint,
        "max_unit_bytes": max_unit_bytes,
        "spec": spec_dict,
        "hashes": hashes or {},
        "inputs": [s.fingerprint() for s in shards],
    }


def changes(old: dict, new: dict) -> list[str]:
    """What differs between a stored manifest and this run's (empty: same run)."""
    found = []
    if old.get("spec_fingerprint") != new["spec_fingerprint"]:
        found.append("the filter changed (config, blocklist files or model files)")
    if old.get("max_unit_bytes") != new.get("max_unit_bytes"):
        found.append(f"the split size changed ({old.get('max_unit_bytes')} -> "
                     f"{new.get('max_unit_bytes')}); outputs would be named differently")
    before = {i["rel"]: i for i in old.get("inputs", [])}
    after = {i["rel"]: i for i in new["inputs"]}
    for rel in sorted(after.keys() - before.keys()):
        found.append(f"new input {rel!r}")
    for rel in sorted(before.keys() - after.keys()):
        found.append(f"input {rel!r} is gone")
    for rel in sorted(after.keys() & before.keys()):
        a, b = before[rel], after[rel]
        if (a["size"], a["version"]) != (b["size"], b["version"]):
            found.append(f"input {rel!r} changed (size {a['size']} -> {b['size']}, "
                         f"version {a['version']} -> {b['version']})")
    return found


def check_or_write(out: Output, manifest: dict, force: bool) -> bool:
    """Write the manifest, or check it against the stored one; True when resuming.

    Raises:
        RunStateError: E061 when the stored manifest differs and ``force`` is not set.
    """
    try:
        text = out.read_text(MANIFEST)
    except UnicodeDecodeError:  # corrupt: differs from any manifest
        text = ""
    except OSError as err:  # a directory in its place, unreadable
        raise output_error(err, out.root, out.path(MANIFEST)) from err
    if text is not None:
        try:
            old = json.loads(text)
        except ValueError:
            old = {}
        if not isinstance(old, dict):
            old = {}
        diff = changes(old, manifest)
        if not diff:
            return True
        if not force:
            listed = "\n  ".join(diff[:20]) + (f"\n  ... {len(diff) - 20} more"
                                                  if len(diff) > 20 else "")
            raise fail("E061", root=out.root, changes=listed)
    out.write_json(MANIFEST, manifest, "manifest")
    return text is not None


def marker_valid(marker: dict | None, shard: Shard, fingerprint: str,
                 out: Output | None = None, check: OutputCheck | None = None) -> bool:
    """A marker counts only for the same input bytes and the same filter, and only while
    its outputs are still there with the size it recorded (on an object store: one HEAD
    per file, no download) and, locally, the sha256 (``check``, or a fresh
    ``OutputCheck`` that hashes every output); otherwise the shard is redone.
    """
    if not (
        isinstance(marker, dict)
        and marker.get("spec_fingerprint") == fingerprint
        and isinstance(marker.get("input"), dict)
        and marker["input"].get("size") == shard.size
        and marker["input"].get("version") == shard.version
        and isinstance(marker.get("outputs"), dict)
    ):
        return False
    if out is None:
        return True
    if out.remote:
        return all(isinstance(info, dict) and out.size(str(info.get("path"))) == info.get("bytes")
                   for info in marker["outputs"].values())
    check = check or OutputCheck(out, remember=False)
    return all(check.output_ok(info) for info in marker["outputs"].values())


class OutputCheck:
    """Is a done shard's output still the file its marker describes?

    The size is compared always. The sha256 is computed again unless the file's (size,
    mtime_ns, ctime_ns, inode) are the ones it had when it was last known good, kept in
    ``_verified.json``: writing to a file always moves its ctime, which no user can set back
    (``touch -r`` restores the mtime only), so an output altered in place with the same
    size is re-hashed, found different and its shard redone, while a resume over unchanged
    outputs costs one ``stat`` per file instead of reading every byte again. That file is a
    cache: losing it costs one re-hash of everything, never a wrong answer. (It relies on
    timestamps finer than the time between a write and the next stat, as on ext4, xfs,
    btrfs and tmpfs; ``report --verify`` always re-hashes.)
    """

    def __init__(self, out: Output, remember: bool = True):
        self.out = out
        self.known: dict[str, list] = {}
        self.good: dict[str, list] = {}
        self.rehashed_files = 0
        self.rehashed_bytes = 0
        if remember and not out.remote:
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                data = json.loads(out.read_text(VERIFIED) or "{}")
                if data.get("format") == FORMAT:
                    self.known = {str(k): v for k, v in data["files"].items()}

    def _key(self, rel: str, sha256: str) -> list:
        st = os.stat(self.out.path(rel))
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, sha256]

    def output_ok(self, info: dict) -> bool:
        """True when the output ``info`` (a marker's ``{path, bytes, sha256}``) is intact."""
        try:
            rel, size, sha256 = info["path"], info["bytes"], info["sha256"]
            key = self._key(rel, sha256)
            if key[0] != size:
                return False
            if self.known.get(rel) != key:
                self.rehashed_files += 1
                self.rehashed_bytes += size
                if file_sha256(self.out, rel) != sha256:
                    return False
                key = self._key(rel, sha256)  # unchanged while it was read
        except (OSError, KeyError, TypeError, ValueError):
            return False
        self.good[rel] = key
        return True

    def record(self, marker: dict) -> None:
        """Remember the outputs a worker has just written (and hashed while writing)."""
        if self.out.remote:
            return
        for info in marker.get("outputs", {}).values():
            with contextlib.suppress(OSError, KeyError, TypeError):
                self.good[info["path"]] = self._key(info["path"], info["sha256"])

    def save(self) -> None:
        """Write ``_verified.json`` (best effort: it is a cache)."""
        if self.out.remote or self.good == self.known:  # a resume that changed nothing
            return
        with contextlib.suppress(EngineError):
            self.out.write_json(VERIFIED, {"format": FORMAT, "files": self.good}, "verified")


def file_sha256(out: Output, rel: str) -> str:
    """The sha256 of an output file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with out.open_read(rel) as fh:
        for block in iter(partial(fh.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_marker(out: Output, shard: Shard) -> dict | None:
    """The shard's marker, or None when it is missing or corrupt (then the shard is redone;
    a marker is written atomically, so only damage from outside makes one corrupt)."""
    try:
        text = out.read_text(marker_path(shard))
        marker = None if text is None else json.loads(text)
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return marker if isinstance(marker, dict) else None


class Lock:
    """One run per output directory.

    Locally the lock is ``flock`` on ``_lock``: the kernel drops it when its process dies, so
    a dead run's lock needs no takeover, and two runs can never both hold it (a takeover by
    read-holder-then-delete let a second run delete the lock the first had just re-created).
    The holder deletes the file on release while still holding it; a run that locked the file
    just before it was deleted sees that the path no longer names its file, and tries again.
    On an object store there is no flock: the lock is a create-only object (``If-None-Match``),
    and one left by a dead process on this host is removed and taken.
    """

    def __init__(self, out: Output):
        self.out = out
        self.held = False
        self._fd: int | None = None

    def acquire(self) -> Lock:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        payload = json.dumps(owner).encode()
        if self.out.remote:
            self._acquire_remote(payload)
        else:
            self._acquire_local(payload)
        self.held = True
        return self

    def _acquire_local(self, payload: bytes) -> None:
        path = self.out.path(LOCK)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as err:
            raise output_error(err, self.out.root, path) from err
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:  # read-only, not a directory, out of inodes
                raise output_error(err, self.out.root, path) from err
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._in_use(self._read_owner()) from None
            if self._still_named(fd, path):
                break
            os.close(fd)  # its holder deleted it after we opened it: lock the new one
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload, 0)
        except OSError as err:  # the disk is full: give the lock back and say so
            self._fd = fd
            self.held = True
            self.release()
            raise output_error(err, self.out.root, path) from err
        self._fd = fd

    @staticmethod
    def _still_named(fd: int, path: str) -> bool:
        try:
            return os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _acquire_remote(self, payload: bytes) -> None:
        for _ in range(2):
            try:
                created = self.out.create_exclusive(LOCK, payload)
            except OSError as err:  # no permission on the bucket, ...
                raise output_error(err, self.out.root, self.out.path(LOCK)) from err
            if created:
                return
            held = self._read_owner()
            if not self._owner_is_dead(held):
                raise self._in_use(held)
            self.out.remove(LOCK)
        raise fail("E062", root=self.out.root, lock=self.out.path(LOCK),
                   holder="other runs keep taking it")

    def _read_owner(self) -> dict:
        try:
            return json.loads(self.out.read_text(LOCK) or "")
        except ValueError:  # being written by its holder right now
            return {"pid": "?", "host": "?"}

    @staticmethod
    def _owner_is_dead(held: dict) -> bool:
        if held.get("host") != socket.gethostname():
            return False
        try:
            os.kill(int(held["pid"]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, KeyError, ValueError):
            return False
        return False

    def _in_use(self, held: dict) -> EngineError:
        return fail("E062", root=self.out.root, lock=self.out.path(LOCK),
                    holder=f"in use by pid {held.get('pid')} on {held.get('host')}")

    def release(self) -> None:
        if not self.held:
            return
        if self._fd is not None:
            self.out.remove(LOCK)  # while still locked, so nobody can lock it in between
            os.close(self._fd)
            self._fd = None
        else:
            self.out.remove(LOCK)
        self.held = False

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
