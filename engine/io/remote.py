"""Object-store access through fsspec, an optional dependency (the ``s3`` extra).

Local paths never import fsspec, so a plain install filters local files; a URL without
fsspec, or without the filesystem package for its scheme (s3fs, gcsfs...), is a usage
error that says what to install instead of a traceback.
"""

from __future__ import annotations

from typing import Any

from engine.errors import fail


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
