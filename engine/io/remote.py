"""Object-store access through fsspec, an optional dependency (the ``s3`` extra).

Local paths never import fsspec, so a plain install filters local files; a URL without
fsspec, or without the filesystem package for its scheme (s3fs, gcsfs...), is a usage
error that says what to install instead of a traceback.

Reads from an object store go through ``RetryingFile``: a transient failure (a 5xx, 408 or
429 answer, a timeout, a dropped or refused connection) is retried with backoff, up to
``READ_TRIES`` attempts, reopening the object and seeking back to where the read was; a
definite answer (404 not found, 403 forbidden, any other 4xx) is raised at once. When every
attempt fails the read raises E069, an ``EngineError`` that is *not* a ``ShardError``: the
shard is left undone (the run exits 1 and a rerun retries it), never marked unreadable.
"""

from __future__ import annotations

import contextlib
import errno
import io
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from engine.errors import fail

#: Attempts at one object-store call before the shard is given up for this run.
READ_TRIES = 4
#: Backoff before attempt 2, 3, 4 (seconds; each scaled by a random factor in [0.5, 1]).
RETRY_DELAYS = (0.5, 2.0, 8.0)
#: errno values of ``OSError``s that fsspec filesystems raise for transient failures.
_TRANSIENT_ERRNOS = {errno.EIO, errno.EBUSY, errno.EAGAIN, errno.ETIMEDOUT, errno.ECONNRESET,
                     errno.ECONNABORTED, errno.ECONNREFUSED, errno.EPIPE, errno.EREMOTEIO}
#: Class names (anywhere in an error's MRO) of transient transport errors in the optional
#: stacks (botocore, aiohttp, fsspec), matched by name so that none of them is imported.
_TRANSIENT_NAMES = {"HTTPClientError", "ConnectionError", "ConnectionClosedError",
                    "EndpointConnectionError", "ReadTimeoutError", "ConnectTimeoutError",
                    "IncompleteReadError", "ResponseStreamingError", "ClientPayloadError",
                    "ServerDisconnectedError", "ClientConnectionError", "ClientOSError",
                    "ServerTimeoutError", "FSTimeoutError", "IncompleteRead"}
T = TypeVar("T")


def url_to_fs(url: str, storage_options: dict | None = None) -> tuple[Any, str]:
    """``(filesystem, path)`` for ``url``, as ``fsspec.core.url_to_fs``."""
    try:
        import fsspec

        return fsspec.core.url_to_fs(url, **(storage_options or {}))
    except ImportError as err:
        scheme = url.split("://", 1)[0]
        raise fail("E005", feature=f"{url!r} (an object store)",
                   package=f"fsspec and its {scheme}:// filesystem ({err})",
                   install="'filter-engine[s3]'" if scheme in ("s3", "s3a")
                   else "fsspec and the filesystem package named above") from err


def _status(err: BaseException) -> int | None:
    """The HTTP status of an error that carries a botocore-style response, else None."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(status, int):
            return status
    status = getattr(err, "status", None) or getattr(err, "code", None)
    return status if isinstance(status, int) and 100 <= status < 600 else None


def transient(err: BaseException) -> bool:
    """Whether ``err``, raised by an object-store call, is worth retrying.

    Retried: HTTP 5xx, 408 and 429 answers, timeouts, refused, reset or dropped connections,
    short reads. Not retried: 404 (``FileNotFoundError``), 403 (``PermissionError``), any
    other 4xx, and anything unrecognised. The error and its causes are all looked at (s3fs
    raises an ``OSError`` caused by the botocore error that holds the status).
    """
    chain: list[BaseException] = []
    link: BaseException | None = err
    while link is not None and all(link is not c for c in chain):
        chain.append(link)
        link = link.__cause__ or link.__context__
    if any(isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError
                      | NotADirectoryError) for e in chain):
        return False
    for e in chain:  # an HTTP status is the store's own word: it decides
        status = _status(e)
        if status is not None:
            return status >= 500 or status in (408, 429)
    return any(isinstance(e, TimeoutError | ConnectionError)
               or any(c.__name__ in _TRANSIENT_NAMES for c in type(e).__mro__)
               or (isinstance(e, OSError) and e.errno in _TRANSIENT_ERRNOS) for e in chain)


def retrying(call: Callable[[], T], uri: str, what: str, tries: int = READ_TRIES,
             on_retry: Callable[[], None] | None = None) -> T:
    """``call()``, retried with backoff while it fails with a ``transient`` error.

    Args:
        call: the object-store operation.
        uri: the shard, for the error message.
        what: what ``call`` does ("open", "read at byte 1234"), for the message.
        tries: attempts in all.
        on_retry: run before each new attempt (e.g. to reopen a file).

    Raises:
        EngineError: E069 when all ``tries`` attempts failed transiently.
        Exception: the first error that is not transient, as it is.
    """
    for attempt in range(tries):
        try:
            return call()
        except Exception as err:
            if not transient(err):
                raise
            if attempt == tries - 1:
                raise fail("E069", shard=uri, tries=tries,
                           problem=f"{what}: {type(err).__name__}: {err}"[:500]) from err
        delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
        time.sleep(delay * (0.5 + random.random() / 2))
        if on_retry is not None:
            on_retry()
    raise AssertionError("unreachable")


class RetryingFile(io.RawIOBase):
    """A read-only, seekable object-store file whose calls are ``retrying``: after a
    transient failure the object is opened again and read from the same position.

    Args:
        fs: the fsspec filesystem.
        path: the object's path in ``fs``.
        uri: the shard's URL (for messages).
        tries: attempts per call.
    """

    def __init__(self, fs: Any, path: str, uri: str, tries: int = READ_TRIES):
        super().__init__()
        self._fs, self._path, self._uri, self._tries = fs, path, uri, tries
        self._pos = 0
        self._fh: Any = None
        self._fh = retrying(self._open, uri, "open", tries)

    def _open(self) -> Any:
        fh = self._fs.open(self._path, "rb")
        if self._pos:
            fh.seek(self._pos)
        return fh

    def _reopen(self) -> None:
        old, self._fh = self._fh, None
        if old is not None:
            with contextlib.suppress(Exception):  # the old handle is broken anyway
                old.close()

    def _call(self, what: str, op: Callable[[Any], T]) -> T:
        def attempt() -> T:
            if self._fh is None:
                self._fh = self._open()
            return op(self._fh)

        try:
            return retrying(attempt, self._uri, what, self._tries, on_retry=self._reopen)
        except FileNotFoundError as err:  # a definite answer: the shard is unreadable
            raise fail("E046", shard=self._uri, reason="not_found",
                       problem=f"{what}: the object is gone ({err})") from err
        except PermissionError as err:
            raise fail("E046", shard=self._uri, reason="permission",
                       problem=f"{what}: access denied ({err})") from err

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._call("seek", lambda fh: fh.seek(offset, whence))
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        data = self._call(f"read at byte {self._pos}",
                          lambda fh: fh.read(-1 if size is None else size))
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._reopen()
        super().close()
