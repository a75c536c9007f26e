"""Where the shipped defaults (blocklists, models, sample data) live.

A source checkout or editable install reads ``<repo>/models``; an installed wheel carries a
copy in ``engine/_models``. ``FILTER_ENGINE_MODELS`` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import ModelError


def models_dir() -> Path:
    """The directory holding the shipped blocklists, models and sample."""
    override = os.environ.get("FILTER_ENGINE_MODELS")
    candidates = [Path(override)] if override else []
    package = Path(__file__).resolve().parent
    candidates += [package.parent / "models", package / "_models"]
    for path in candidates:
        if (path / "blocklists").is_dir():
            return path
    raise ModelError(
        "shipped defaults not found (looked in "
        + ", ".join(str(p) for p in candidates)
        + "); set FILTER_ENGINE_MODELS to the models/ directory",
        code="E031",
    )


def blocklist_files() -> list[Path]:
    """The default blocklists, one category per file."""
    return sorted((models_dir() / "blocklists").glob("*.txt"))


def sample_path() -> Path:
    """The bundled sample shard used by the quick start and the tests."""
    return models_dir() / "samples" / "sample.parquet"
