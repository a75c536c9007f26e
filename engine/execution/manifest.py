"""Run state in the output directory: the manifest, the lock and the shard markers.

``_manifest.json`` is written before any shard is touched: the input list with sizes and
mtimes (or ETags) and the filter's fingerprint. Re-running the same command finds it and
resumes, skipping every shard whose marker ``_done/<shard>.json`` exists and matches the
current input and filter; if the inputs or the filter changed it refuses, listing the
changes, unless forced. ``_lock`` keeps two runs off one output directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from engine._version import __version__
from engine.errors import EngineError, fail
from engine.io.shards import Shard
from engine.io.writers import Output

MANIFEST = "_manifest.json"
LOCK = "_lock"
FORMAT = 1


def marker_path(shard: Shard) -> str:
    return f"_done/{shard.unit}.json"


def build_manifest(shards: list[Shard], spec_dict: dict, fingerprint: str,
                   max_unit_bytes: int | None = None) -> dict:
    return {
        "format": FORMAT,
        "engine": __version__,
        "spec_fingerprint": fingerprint,
        "max_unit_bytes": max_unit_bytes,
        "spec": spec_dict,
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
    text = out.read_text(MANIFEST)
    if text is not None:
        try:
            old = json.loads(text)
        except ValueError:
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
                 out: Output | None = None) -> bool:
    """A marker counts only for the same input bytes and the same filter, and (locally)
    only while its outputs still have the sizes it recorded; otherwise the shard is redone.
    """
    if not (
        marker
        and marker.get("spec_fingerprint") == fingerprint
        and marker.get("input", {}).get("size") == shard.size
        and marker.get("input", {}).get("version") == shard.version
    ):
        return False
    if out is None or out.remote:
        return True
    for info in marker.get("outputs", {}).values():
        try:
            if os.path.getsize(out.path(info["path"])) != info["bytes"]:
                return False
        except (OSError, KeyError, ValueError):
            return False
    return True


def read_marker(out: Output, shard: Shard) -> dict | None:
    text = out.read_text(marker_path(shard))
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:  # a marker is written atomically; a broken one is redone
        return None


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
        os.makedirs(os.path.dirname(path), exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._in_use(self._read_owner()) from None
            if self._still_named(fd, path):
                break
            os.close(fd)  # its holder deleted it after we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, payload, 0)
        self._fd = fd

    @staticmethod
    def _still_named(fd: int, path: str) -> bool:
        try:
            return os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _acquire_remote(self, payload: bytes) -> None:
        for _ in range(2):
            if self.out.create_exclusive(LOCK, payload):
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
