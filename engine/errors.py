"""One error hierarchy for the whole engine.

Every message starts with a stable code (``[E012]``) that tests and users can match on,
names the thing at fault (file and line, shard and row, model directory) and says what to
do. The CLI maps the classes to exit codes (see ``EXIT_CODES``).

Code ranges: E00x usage, E01x patterns/matcher, E02x input text and schemas,
E03x models, E04x shards and I/O, E05x filter config and rules, E06x run state.
"""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error filter-engine raises on purpose."""

    code = "E000"

    def __init__(self, message: str, code: str | None = None):
        if code is not None:
            self.code = code
        super().__init__(f"[{self.code}] {message}")


class UsageError(EngineError, ValueError):
    """A command line or API call that cannot be carried out as given."""

    code = "E001"


class PatternError(EngineError, ValueError):
    """A blocklist that cannot be built: empty pattern, bad file, limits exceeded."""

    code = "E010"


class MatcherStateError(EngineError, RuntimeError):
    """A matcher used in a state that does not allow it (e.g. a corrupt saved file)."""

    code = "E015"


class SchemaError(EngineError, ValueError):
    """Input whose type or layout is wrong: not a string column, malformed offsets."""

    code = "E020"


class TextError(EngineError, ValueError):
    """Text that cannot be read as UTF-8; names the row."""

    code = "E025"


class ModelError(EngineError, RuntimeError):
    """A model directory or card that cannot be loaded."""

    code = "E030"


class ShardError(EngineError, OSError):
    """A shard that cannot be read or written; names the shard (and row when known)."""

    code = "E040"


class ConfigError(EngineError, ValueError):
    """A filter config or rule expression that does not parse or does not type-check."""

    code = "E050"


class RunStateError(EngineError, RuntimeError):
    """An output directory whose state forbids the run (changed inputs, held lock)."""

    code = "E060"


#: CLI exit codes per error class (first match wins; order matters for subclasses).
EXIT_CODES: tuple[tuple[type[EngineError], int], ...] = (
    (UsageError, 2),
    (ConfigError, 2),
    (PatternError, 2),
    (ModelError, 2),
    (RunStateError, 2),
    (SchemaError, 3),
    (TextError, 3),
    (ShardError, 3),
    (EngineError, 1),
)


def exit_code_for(error: EngineError) -> int:
    """The documented CLI exit code for an engine error."""
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1
