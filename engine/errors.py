"""One error hierarchy and one catalogue of error codes for the whole engine.

Every message starts with a stable code (``[E012]``) that tests and users can match on,
names the thing at fault (file and line, shard and row, model directory) and says what to
do. ``CATALOGUE`` defines each code exactly once, with its class and message template;
raise sites only pick a code and fill the template: ``raise fail("E041", shard=uri, ...)``.
``ErrorRecord`` carries an error across a process boundary as plain data. The CLI maps the
classes to exit codes (see ``EXIT_CODES``).

Code ranges: E00x usage, E01x patterns/matcher, E02x input text and schemas,
E03x models, E04x shards and I/O, E05x filter config and rules, E06x run state.
"""

from __future__ import annotations

import signal
import string
from dataclasses import dataclass
from typing import NamedTuple


class EngineError(Exception):
    """Root of every error filter-engine raises on purpose.

    Build one with ``fail(code, ...)``; the constructor refuses a code that the catalogue
    does not give to this class. ``shard`` and ``row`` name where the error happened when
    known, as data, so that they survive a trip to another process.
    """

    def __init__(self, message: str, *, code: str, shard: str | None = None,
                 row: int | None = None):
        entry = entry_for(code)
        if entry.cls is not type(self):
            raise TypeError(f"{code} is a {entry.cls.__name__}, not a {type(self).__name__}")
        self.code = code
        self.message = message
        self.shard = shard
        self.row = row
        super().__init__(f"[{code}] {message}")

    def __reduce__(self):
        """Pickle as an ``ErrorRecord`` (the constructor takes keywords, not ``args``)."""
        return ErrorRecord.rebuild, (ErrorRecord.of(self),), self.__dict__


class UsageError(EngineError, ValueError):
    """A command line or API call that cannot be carried out as given."""


class PatternError(EngineError, ValueError):
    """A blocklist that cannot be built: empty pattern, bad file, limits exceeded."""


class MatcherStateError(EngineError, RuntimeError):
    """A saved matcher that cannot be used (missing, corrupt, another format version)."""


class SchemaError(EngineError, ValueError):
    """Input whose type or layout is wrong: not a string column, malformed offsets."""


class TextError(EngineError, ValueError):
    """Text that cannot be read as UTF-8; names the row."""


class ModelError(EngineError, RuntimeError):
    """A model directory or card that cannot be loaded, or a model that cannot be built."""


class ShardError(EngineError, OSError):
    """An input shard that cannot be read; names the shard.

    ``reason`` is a short machine word (``not_found``, ``schema``, ...) for shard markers.
    """

    def __init__(self, message: str, *, code: str, shard: str | None = None,
                 row: int | None = None, reason: str = "error"):
        super().__init__(message, code=code, shard=shard, row=row)
        self.reason = reason


class OutputError(EngineError, OSError):
    """An output that cannot be written (disk full, permissions); names shard and file."""


class ConfigError(EngineError, ValueError):
    """A filter config or rule expression that does not parse or does not type-check."""


class RunStateError(EngineError, RuntimeError):
    """An output directory whose state forbids the run (changed inputs, held lock)."""


@dataclass(frozen=True)
class Entry:
    """One catalogued error: its code, the class it is raised as, its message template.

    The template is a ``str.format`` string; ``{shard}`` and ``{row}`` come from the
    error's fields, every other name from ``fail``'s keywords.
    """

    code: str
    cls: type[EngineError]
    template: str

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.template)
                         if name)


#: Every error code, defined once. Sites that share a code share its meaning; the details
#: that differ between them go in ``{problem}``.
CATALOGUE: tuple[Entry, ...] = (
    # E00x usage
    Entry("E001", UsageError, "{argument}: {problem}"),
    Entry("E002", UsageError, "no input matched {inputs}; check the path or glob"),
    Entry("E003", UsageError, "output names collide: {clashes}; rename one input or run them "
          "into different -o directories"),
    Entry("E004", UsageError, "find() takes one str, got {got}; use count() or spans() for "
          "many texts"),
    Entry("E005", UsageError, "{feature} needs {package}; pip install {install}"),
    Entry("E006", UsageError, "no category {name!r}; have {categories}"),
    Entry("E007", UsageError, "normalize={value!r}; expected None, 'nfkc', 'robust' or a "
          "tuple of steps from {steps}"),
    Entry("E008", UsageError, "training data '{path}': {problem}"),
    Entry("E009", UsageError, "output {root!r} overlaps input {input!r}: {problem}; write "
          "the output outside the input tree"),
    # E01x patterns and matcher files
    Entry("E010", PatternError, "no patterns: a matcher needs at least one"),
    Entry("E011", PatternError, "{where}: empty pattern; remove the entry"),
    Entry("E012", PatternError, "{where}: {problem}; pass str patterns or (pattern, "
          "category[, weight]) tuples"),
    Entry("E013", PatternError, "{where}: weight {weight!r} is not a finite number"),
    Entry("E014", PatternError, "blocklist {where}: {problem}"),
    Entry("E016", MatcherStateError, "{path}: cannot open as a filter-engine matcher file "
          "({problem})"),
    Entry("E017", MatcherStateError, "{path}: matcher format version {version}; this engine "
          "reads version {supported}: rebuild it with Matcher(...).save()"),
    Entry("E018", MatcherStateError, "{path}: corrupt matcher file ({problem}); rebuild it "
          "with Matcher(...).save()"),
    Entry("E019", PatternError, "blocklist too large: {problem}"),
    # E02x input text and schemas
    Entry("E021", SchemaError, "{where} is {type}; expected a string or large_string column "
          "(--text-column?)"),
    Entry("E022", SchemaError, "{where}: {problem}; pass a list of str (or None) or an Arrow "
          "string array"),
    Entry("E023", SchemaError, "{where}: {problem}; the array is malformed"),
    Entry("E024", SchemaError, "no column {column!r} in {columns}; set text_column"),
    Entry("E026", TextError, "row {row}: text is not valid UTF-8 ({count} such rows in this "
          "chunk); use scan() to get a status per row instead"),
    # E03x models: E032-E038 name the model directory; what differs is in {problem}
    Entry("E030", ModelError, "cannot build a model from {source}: {problem}"),
    Entry("E031", ModelError, "shipped defaults not found (looked in {looked}); set "
          "FILTER_ENGINE_MODELS to the models/ directory"),
    Entry("E032", ModelError, "model dir '{directory}': {problem}"),  # a file is missing
    Entry("E033", ModelError, "model dir '{directory}': {problem}"),  # the card is malformed
    Entry("E034", ModelError, "model dir '{directory}': {problem}"),  # the graph is corrupt
    Entry("E035", ModelError, "model dir '{directory}': {problem}"),  # data outside the dir
    Entry("E036", ModelError, "model dir '{directory}': {problem}"),  # graph/card mismatch
    Entry("E037", ModelError, "model dir '{directory}': {problem}"),  # featurizer mismatch
    Entry("E038", ModelError, "model dir '{directory}': {problem}"),  # device unusable
    Entry("E039", ModelError, "fastText model '{path}': {problem}"),
    # E04x shards and I/O
    Entry("E041", ShardError, "shard {shard!r}: no column {column!r} (columns: {columns}); "
          "set text_column in the config or --text-column"),
    Entry("E042", ShardError, "shard {shard!r}: column {column!r} is {type}; expected a "
          "string column (--text-column?)"),
    Entry("E043", ShardError, "shard {shard!r}: {problem}"),  # not a format we can read
    Entry("E044", ShardError, "shard {shard!r}: rows {rows} are unreadable: {problem}; the "
          "file is damaged (malformed Arrow buffers), rewrite it from its source"),
    Entry("E045", ShardError, "shard {shard!r}: {where} has {count} fields named {column!r}; "
          "which one is the text is ambiguous: rename or drop the others"),
    Entry("E046", ShardError, "shard {shard!r}: {problem}"),  # cannot be opened
    Entry("E047", OutputError, "shard {shard!r}: cannot write {path!r} under {root!r}: "
          "{problem}; free space or fix the output, then rerun to resume"),
    Entry("E048", OutputError, "cannot write {path!r}: {problem}; free space or fix the "
          "output, then rerun to resume"),  # run files: manifest, report, saved automata
    # E05x filter config and rules
    Entry("E051", ConfigError, "rule {where}: {problem} at column {column}\n    {source}\n"
          "    {caret}\nRules use numbers, stage.field names, comparisons, + - * /, "
          "and/or/not, parentheses."),
    Entry("E052", ConfigError, "rule {where}: unknown name {name!r} at column {column} in "
          "{source!r}; known names: {known}"),
    Entry("E053", ConfigError, "rule {where}: type mismatch in {source!r}: {problem}"),
    Entry("E054", ConfigError, "config {path!r}: {problem}; check -c/--config"),
    Entry("E055", ConfigError, "{where}: {problem}"),  # a value of the wrong type or range
    Entry("E056", ConfigError, "{where}: {pattern!r} not found (looked at {looked})"),
    Entry("E057", ConfigError, "{where}: unknown key(s) {keys}; allowed: {allowed}"),
    Entry("E058", ConfigError, "rule {where}: parentheses nest more than {limit} levels "
          "deep at column {column}; write a long chain as 'a or b or c' (it needs no "
          "parentheses) or split the rule into several drop_if reasons"),
    # E06x run state and workers
    Entry("E061", RunStateError, "output {root!r} holds a run with different inputs or "
          "filter:\n  {changes}\nuse another -o, or --force to redo what changed"),
    Entry("E062", RunStateError, "output {root!r}: cannot take the lock {lock} ({holder}); "
          "wait for that run, or delete the lock if it is gone"),
    Entry("E063", EngineError, "worker processes keep dying before any work ({how}); run "
          "with --workers 1 to see the error"),
    Entry("E064", RunStateError, "shard {shard!r} changed while it was read ({change}); its "
          "outputs were discarded; rerun with --force once it is stable"),
    Entry("E065", RunStateError, "refusing to write {path!r}: a symlink leads outside the "
          "output directory {root!r}; remove it"),
    Entry("E066", EngineError, "a worker cannot load the filter: {error}"),
    Entry("E067", EngineError, "shard {shard!r}: the worker raised {error}"),
    Entry("E069", EngineError, "shard {shard!r}: reading failed {tries} times ({problem}); the "
          "store looks unavailable: rerun later to resume"),
)

_BY_CODE = {entry.code: entry for entry in CATALOGUE}
if len(_BY_CODE) != len(CATALOGUE):  # a second entry would silently replace the first
    raise RuntimeError("engine.errors.CATALOGUE defines a code twice")


def entry_for(code: str) -> Entry:
    """The catalogue entry of ``code``; a ``KeyError`` names an uncatalogued code."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"error code {code!r} is not in engine.errors.CATALOGUE") from None


def fail(code: str, /, *, shard: str | None = None, row: int | None = None,
         reason: str | None = None, **fields: object) -> EngineError:
    """The catalogued error ``code`` with its template filled; ``raise`` the result.

    Args:
        code: a code from ``CATALOGUE``.
        shard: the shard the error is about (also ``{shard}`` in the template).
        row: the row the error is about (also ``{row}`` in the template).
        reason: a machine word for shard markers; only for ``ShardError`` codes.
        **fields: exactly the template's other names.

    Returns:
        An instance of the code's catalogued class.
    """
    entry = entry_for(code)
    given = set(fields) | {name for name, value in (("shard", shard), ("row", row))
                           if value is not None and name in entry.fields}
    if given != entry.fields:
        raise TypeError(f"{code} takes the fields {sorted(entry.fields)}, got {sorted(given)}")
    message = entry.template.format(shard=shard, row=row, **fields)
    cls = entry.cls
    if issubclass(cls, ShardError):
        return cls(message, code=code, shard=shard, row=row, reason=reason or "error")
    if reason is not None:
        raise TypeError(f"{code} is a {cls.__name__}, which takes no reason")
    return cls(message, code=code, shard=shard, row=row)


class ErrorRecord(NamedTuple):
    """An engine error as plain data (class name, code, message, shard, row), to send from
    a worker process; ``rebuild`` gives the parent the same class with the same code."""

    cls: str
    code: str
    message: str
    shard: str | None
    row: int | None

    @classmethod
    def of(cls, error: EngineError) -> ErrorRecord:
        return cls(type(error).__name__, error.code, error.message, error.shard, error.row)

    def rebuild(self) -> EngineError:
        entry = entry_for(self.code)
        if entry.cls.__name__ != self.cls:
            raise TypeError(f"{self.code} is a {entry.cls.__name__}, not a {self.cls}")
        return entry.cls(self.message, code=self.code, shard=self.shard, row=self.row)


@dataclass(frozen=True)
class ExitStatus:
    """One documented exit status: its code, what it means, and what leads to it."""

    code: int
    meaning: str
    errors: tuple[type[EngineError], ...] = ()  # the error classes that exit with it
    signal: int | None = None  # the signal that stopped the run


EXIT_CLEAN = ExitStatus(0, "clean")
EXIT_INCOMPLETE = ExitStatus(1, "incomplete (re-run to resume)", (EngineError,))
EXIT_USAGE = ExitStatus(2, "usage or config error", (
    UsageError, ConfigError, PatternError, ModelError, RunStateError))
EXIT_UNREADABLE = ExitStatus(3, "finished with unreadable input", (
    SchemaError, TextError, ShardError))
#: Every exit status of the CLI and of ``RunResult.exit_code``, in the order documented.
EXIT_CODES: tuple[ExitStatus, ...] = (
    EXIT_CLEAN, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_UNREADABLE,
    ExitStatus(128 + signal.SIGINT, "interrupted", signal=signal.SIGINT),
    ExitStatus(128 + signal.SIGPIPE, "output closed by the reader (| head)",
               signal=signal.SIGPIPE),
    ExitStatus(128 + signal.SIGTERM, "interrupted", signal=signal.SIGTERM),
)
_EXIT_BY_CLASS = {cls: status.code for status in EXIT_CODES for cls in status.errors}


def exit_code_for(error: EngineError) -> int:
    """The documented exit code for an engine error (its nearest listed class)."""
    return next(_EXIT_BY_CLASS[cls] for cls in type(error).__mro__ if cls in _EXIT_BY_CLASS)


def exit_code_for_signal(signum: int) -> int:
    """The documented exit code of a run stopped by ``signum`` (SIGINT, SIGTERM, SIGPIPE)."""
    return next(s.code for s in EXIT_CODES if s.signal == signum)


def exit_codes_help() -> str:
    """The one-line summary of ``EXIT_CODES`` that ``--help`` and the README show."""
    codes: dict[str, list[str]] = {}  # meaning -> codes, in order of first appearance
    for status in EXIT_CODES:
        codes.setdefault(status.meaning, []).append(str(status.code))
    return "Exit codes: " + ", ".join(f"{'/'.join(c)} {m}" for m, c in codes.items()) + "."
