"""Where the shipped defaults (blocklists, models, sample data) live.

A source checkout or editable install reads ``<repo>/models``; an installed wheel carries a
copy in ``engine/_models``. ``FILTER_ENGINE_MODELS`` overrides both. ``-c default`` names the
shipped filter wherever it lives, so users and scripts never spell out the install path.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.errors import fail

#: The ``-c``/``--config`` value (and ``FilterSpec.load`` argument) for the shipped filter.
DEFAULT_CONFIG_NAME = "default"


def models_dir() -> Path:
    """The directory holding the shipped blocklists, models and sample."""
    override = os.environ.get("FILTER_ENGINE_MODELS")
    candidates = [Path(override)] if override else []
    package = Path(__file__).resolve().parent
    candidates += [package.parent / "models", package / "_models"]
    for path in candidates:
        if (path / "blocklists").is_dir():
            return path
    raise fail("E031", looked=", ".join(str(p) for p in candidates))


#: The blocklist formats the matcher reads (``engine.match.patterns``).
BLOCKLIST_SUFFIXES = (".txt", ".tsv", ".jsonl")


def blocklist_files() -> list[Path]:
    """The default blocklists, one category per file."""
    return sorted(p for p in (models_dir() / "blocklists").iterdir()
                  if p.suffix in BLOCKLIST_SUFFIXES)


def sample_path() -> Path:
    """The bundled sample shard used by the quick start and the tests."""
    return models_dir() / "samples" / "sample.parquet"


def default_filter_path() -> Path:
    """The filter ``run`` and ``explain`` use when no config is given."""
    return models_dir() / "default-filter.toml"


def resolve_config_name(config: str | os.PathLike[str] | None) -> Path:
    """The TOML file a config argument names: None or the string ``"default"`` is the
    shipped filter. A file called ``default`` is reached as ``./default`` or a ``Path``.
    """
    if config is None or config == DEFAULT_CONFIG_NAME:
        return default_filter_path()
    return Path(config)
