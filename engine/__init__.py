"""filter-engine: filter hazardous content out of LLM pre-training corpora.

Public surface (one name per concept): ``Matcher``, ``MatchResult``, ``Classifier``,
``FilterSpec``, ``Filter``, ``run`` and the ``EngineError`` hierarchy. Heavy modules are
imported on first use so that ``import engine`` stays cheap in worker processes.
"""

from engine._version import __version__
from engine.errors import (
    ConfigError,
    EngineError,
    MatcherStateError,
    ModelError,
    OutputError,
    PatternError,
    RunStateError,
    SchemaError,
    ShardError,
    TextError,
    UsageError,
)

_LAZY = {
    "Matcher": "engine.match.matcher",
    "MatchResult": "engine.match.matcher",
    "Classifier": "engine.classify.classifier",
    "FilterSpec": "engine.filter.spec",
    "Filter": "engine.filter.apply",
    "run": "engine.execution.runner",
}

__all__ = [
    "__version__",
    "ConfigError",
    "EngineError",
    "MatcherStateError",
    "ModelError",
    "OutputError",
    "PatternError",
    "RunStateError",
    "SchemaError",
    "ShardError",
    "TextError",
    "UsageError",
    *_LAZY,
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
