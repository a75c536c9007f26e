"""``FilterSpec``: the whole filter as plain data, and its TOML form.

A spec names the text column, the blocklist stages, the classifier stages (each optionally
limited by a ``run_if`` cascade rule) and the drop rules. It is immutable, cheap to send to
worker processes, and has a fingerprint that covers the *contents* of every blocklist file
and model file it points at, so a resumed run can tell that the filter changed.

TOML layout (see ``models/default-filter.toml``)::

    text_column = "text"
    mode = "drop"                      # or "annotate"

    [[blocklist]]
    name = "blocklist"                 # rules say blocklist.count, blocklist.<category>
    files = ["blocklists/*.txt"]       # relative to the config file, then to models/
    ignore_case = true
    whole_words = true
    normalize = "robust"               # or "nfkc"; optional, see engine.Matcher
    join = false                       # "CobaltStrike" for "cobalt strike" (robust only)
    inflect = true                     # -s/-es endings (default: on with "robust")

    [[classifier]]
    name = "spam"                      # rules say spam.score (and spam.<label>)
    model = "spam-hashed"
    run_if = "blocklist.count >= 1"    # optional cascade
    # windows = "around_hits"          # a transformer model only: score the token windows
    # hits_from = "blocklist"          # around this blocklist's matches (see below)

    [drop_if]                          # named reasons, checked in order ...
    cbrn = "blocklist.cbrn >= 2"
    # ... or one string: drop_if = "a or b" (each alternative becomes a reason)

Every key's type, default and allowed values are declared once, in ``CONFIG_KEYS``; the
TOML reader and ``FilterSpec.validate`` check against it. A value of the wrong type or
range (``batch_rows = "abc"``, ``ignore_case = "false"``, ``batch_rows = 1.5``) or a missing
required key (``drop_if``, ``files``, a classifier's ``name`` or ``model``) is a ConfigError
E055 naming the file, the table and the key; an unknown key is E057. Nothing is coerced.

``windows`` (a classifier key; default ``"all"``): ``"all"`` scores a transformer's windows
from the start of each document (up to the card's ``max_windows``); ``"around_hits"``
scores only the windows centred on the matches of the blocklist stage ``hits_from`` names
(``max_length`` tokens each, matches that fit in one window together share it, at most the
card's ``max_windows`` per document, reduced by the card's ``reduce``), so a term deep in a
long document is scored where it stands. Rows without a match there are not scored (NaN,
as rows a ``run_if`` skips); ``run_if`` still narrows the rows further. The model must be a
transformer (``kind = "transformer"``); ``hits_from`` must name a ``[[blocklist]]`` and is
refused (E055) without ``windows = "around_hits"``.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from engine import defaults
from engine.errors import fail
from engine.filter.rules import BOOL, NUM, Rule, split_disjuncts

MODES = ("drop", "annotate")
#: A classifier's ``windows``: from each document's start, or around a blocklist's matches.
WINDOWS = ("all", "around_hits")
BLOCKLIST_FIELDS = ("count", "distinct", "weight")
TEXT_FIELDS = {"text.bytes": NUM, "text.null": BOOL, "text.empty": BOOL}
REQUIRED = object()  # the default of a key that must be given


@dataclass(frozen=True)
class Key:
    """One config key, declared once: what it holds, its default and the values it allows.

    ``kind`` is ``"string"``, ``"boolean"``, ``"integer"``, ``"strings"`` (a non-empty array
    of non-empty strings), ``"rule"`` (a rule string), ``"tables"`` (an array of tables) or
    ``"rules"`` (a rule string, or a table of reason = rule string). The TOML reader and
    ``FilterSpec.validate`` (a spec built in Python) check values against the same keys.
    """

    name: str
    kind: str
    default: object = None  # REQUIRED: no default; None: optional, unset
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    nonempty: bool = False

    @property
    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return {
            "string": "a non-empty string" if self.nonempty else "a string",
            "boolean": "true or false",
            "integer": f"an integer >= {self.minimum}",
            "strings": "a non-empty array of non-empty strings",
            "rule": "a rule string",
            "tables": f"an array of tables ([[{self.name}]])",
            "rules": "a rule string or a [drop_if] table of reason = rule",
        }[self.kind]

    def accepts(self, value: object) -> bool:
        kind = self.kind
        if kind in ("string", "rule"):
            return (isinstance(value, str) and (not self.nonempty or value != "")
                    and (not self.choices or value in self.choices))
        if kind == "boolean":
            return isinstance(value, bool)
        if kind == "integer":
            return (isinstance(value, int) and not isinstance(value, bool)
                    and (self.minimum is None or value >= self.minimum))
        if kind == "strings":
            return (isinstance(value, list | tuple) and len(value) > 0
                    and all(isinstance(v, str) and v for v in value))
        if kind == "tables":
            return isinstance(value, dict) or (
                isinstance(value, list) and all(isinstance(v, dict) for v in value))
        return isinstance(value, str | dict)  # "rules"

    def check(self, value: object, where: str, label: str = "") -> None:
        """A ConfigError (E055) naming the file (``where``), table and key unless
        ``value`` is allowed; ``None`` passes for an optional key without a default."""
        if value is None and self.default is None:
            return
        if not self.accepts(value):
            raise fail("E055", where=where, problem=f"{label}{self.name} must be "
                       f"{self.expected}, got {value!r} ({_type_name(value)})")


#: Every key of the TOML config, per table ("" is the top level), declared once.
CONFIG_KEYS: dict[str, tuple[Key, ...]] = {
    "": (
        Key("text_column", "string", "text", nonempty=True),
        Key("mode", "string", "drop", choices=MODES),
        Key("batch_rows", "integer", 8192, minimum=1),
        Key("blocklist", "tables", ()),
        Key("classifier", "tables", ()),
        Key("drop_if", "rules", REQUIRED),
    ),
    "blocklist": (
        Key("name", "string", "blocklist"),
        Key("files", "strings", REQUIRED),
        Key("ignore_case", "boolean", True),
        Key("whole_words", "boolean", True),
        Key("normalize", "string", choices=("nfkc", "robust")),
        Key("join", "boolean", False),
        Key("inflect", "boolean"),
    ),
    "classifier": (
        Key("name", "string", REQUIRED),
        Key("model", "string", REQUIRED, nonempty=True),
        Key("device", "string", "cpu", choices=("cpu", "cuda")),  # classify.session.DEVICES
        Key("threads", "integer", 1, minimum=1),
        Key("run_if", "rule"),
        Key("windows", "string", "all", choices=WINDOWS),
        Key("hits_from", "string", nonempty=True),
    ),
}
_NO_DROP_IF = ("no drop_if: a filter needs rules that say which rows to remove, either "
               'drop_if = "<rule>" at the top of the file (before any [[table]]) or a '
               '[drop_if] table of reason = "<rule>" lines (e.g. cbrn = "blocklist.cbrn >= 2")')


def _type_name(value: object) -> str:
    """What a value is, in TOML's words (``bool`` before ``int``: it is a subclass)."""
    for cls, name in ((bool, "a boolean"), (int, "an integer"), (float, "a float"),
                      (str, "a string"), (list | tuple, "an array"), (dict, "a table")):
        if isinstance(value, cls):
            return name
    return "nothing" if value is None else f"a {type(value).__name__}"


def _checked(table: dict, table_name: str, where: str, label: str = "") -> dict:
    """The keys of one config table, checked against ``CONFIG_KEYS``, defaults filled in."""
    keys = CONFIG_KEYS[table_name]
    allowed = [k.name for k in keys]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise fail("E057", where=f"{where}: {label.rstrip(': ')}" if label else where,
                   keys=unknown, allowed=sorted(allowed))
    values = {}
    for key in keys:
        if key.name in table:
            key.check(table[key.name], where, label)
            values[key.name] = table[key.name]
        else:
            values[key.name] = key.default
    return values


def _require(values: dict, table_name: str, where: str, label: str = "") -> dict:
    """``values`` (from ``_checked``) once every key without a default is there."""
    for key in CONFIG_KEYS[table_name]:
        if values[key.name] is REQUIRED:
            problem = (_NO_DROP_IF if key.name == "drop_if" else
                       f"{label}{key.name} is missing; it must be {key.expected}")
            raise fail("E055", where=where, problem=problem)
    return values


def _label(table_name: str, entry: dict, index: int) -> str:
    """How messages name one ``[[table]]`` entry: by its name, else by its position."""
    name = entry.get("name")
    return f"[[{table_name}]] {name!r}: " if isinstance(name, str) else (
        f"[[{table_name}]] #{index}: ")


@dataclass(frozen=True)
class BlocklistSpec:
    """One matcher stage: pattern files (file stem = category) and matching options."""

    name: str
    files: tuple[str, ...]
    ignore_case: bool = True
    whole_words: bool = True
    normalize: str | None = None
    join: bool = False
    inflect: bool | None = None
    category_names: tuple[str, ...] = ()

    @property
    def categories(self) -> list[str]:
        """Category names, sorted: those read from the files (``.tsv``/``.jsonl`` rows may
        name their own), else the file stems."""
        return sorted(self.category_names or {_stem(f) for f in self.files})

    def fields(self) -> dict[str, str]:
        names = {f"{self.name}.{f}": NUM for f in BLOCKLIST_FIELDS}
        names.update({f"{self.name}.{c}": NUM for c in self.categories})
        return names


@dataclass(frozen=True)
class ClassifierSpec:
    """One model stage; ``run_if`` limits it to rows that a cheaper rule selects, and
    ``windows = "around_hits"`` to the windows around the matches of blocklist
    ``hits_from`` (see the module docstring)."""

    name: str
    model: str
    device: str = "cpu"
    threads: int = 1
    run_if: str | None = None
    labels: tuple[str, ...] = ()
    windows: str = "all"
    hits_from: str | None = None

    def fields(self) -> dict[str, str]:
        names = {f"{self.name}.score": NUM}
        names.update({f"{self.name}.{label}": NUM for label in self.labels})
        return names


@dataclass(frozen=True)
class FilterSpec:
    """The whole filter as data; ``engine.Filter(spec)`` makes it live.

    Attributes:
        text_column: the string column every stage reads.
        mode: ``"drop"`` (kept and removed rows split) or ``"annotate"`` (all rows kept,
            with decision and stage columns added).
        blocklists: matcher stages, run first.
        classifiers: model stages, in order; each may have a ``run_if`` cascade rule.
        drop_if: ``(reason, rule text)`` pairs; a row is removed with the first reason
            whose rule is true.
        batch_rows: rows per batch handed to the stages.
    """

    text_column: str = "text"
    mode: str = "drop"
    blocklists: tuple[BlocklistSpec, ...] = ()
    classifiers: tuple[ClassifierSpec, ...] = ()
    drop_if: tuple[tuple[str, str], ...] = ()
    batch_rows: int = 8192
    source: str | None = field(default=None, compare=False)

    def __post_init__(self):
        self.validate()

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> FilterSpec:
        """Parse a TOML config; relative paths resolve against its directory, then models/."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise fail("E054", path=str(path), problem="not found") from err
        except tomllib.TOMLDecodeError as err:
            raise fail("E054", path=str(path), problem=f"not valid TOML: {err}") from err
        return cls.from_dict(data, base_dir=path.parent, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, base_dir: str | Path | None = None,
                  source: str | None = None) -> FilterSpec:
        """Build a spec from the TOML structure (a dict); paths are resolved here."""
        where = source or "config"
        top = _checked(dict(data), "", where)
        bases = [Path(base_dir)] if base_dir else []
        blocklists = tuple(_blocklist(entry, i, bases, where)
                           for i, entry in enumerate(_entries(top["blocklist"]), 1))
        classifiers = tuple(_classifier(entry, i, bases, where)
                            for i, entry in enumerate(_entries(top["classifier"]), 1))
        drop_if = _require(top, "", where)["drop_if"]  # after the stages, as it always was
        if isinstance(drop_if, dict):
            for reason, rule in drop_if.items():
                if not isinstance(rule, str):
                    raise fail("E055", where=where, problem=f"drop_if.{reason} must be a rule "
                               f"string, got {rule!r} ({_type_name(rule)})")
            drop_if = tuple((str(k), v) for k, v in drop_if.items())
        else:
            drop_if = (("drop_if", drop_if),)
        return cls(
            text_column=top["text_column"],
            mode=top["mode"],
            blocklists=blocklists,
            classifiers=classifiers,
            drop_if=drop_if,
            batch_rows=top["batch_rows"],
            source=source,
        )

    @classmethod
    def default(cls) -> FilterSpec:
        """The shipped default filter (``models/default-filter.toml``)."""
        return cls.from_toml(defaults.default_filter_path())

    @classmethod
    def load(cls, config: FilterSpec | str | os.PathLike[str] | None = None) -> FilterSpec:
        """The spec a config argument names; the one way commands and APIs read ``-c``.

        Args:
            config: None or ``"default"``: the shipped default filter (a file in the
                working directory called ``default`` is reached as ``./default``); a
                ``FilterSpec``: itself; anything else: the path of a TOML config.

        Returns:
            The spec.

        Raises:
            ConfigError: the file is missing (E054), is not TOML, or does not check.
        """
        if isinstance(config, FilterSpec):
            return config
        return cls.from_toml(defaults.resolve_config_name(config))

    def with_options(self, **changes) -> FilterSpec:
        """A copy with some fields changed (e.g. ``mode="annotate"``)."""
        return replace(self, **changes)

    # -- checks ------------------------------------------------------------------------
    def validate(self) -> None:
        """Check names, modes and every rule against the fields the stages provide."""
        where = self.source or "config"
        for key in CONFIG_KEYS[""]:  # the same declarations the TOML reader checks
            if key.kind not in ("tables", "rules"):
                key.check(getattr(self, key.name), where)
        tables: dict[str, tuple[BlocklistSpec | ClassifierSpec, ...]] = {
            "blocklist": self.blocklists, "classifier": self.classifiers}
        for table, stages in tables.items():
            for i, stage in enumerate(stages, 1):
                label = _label(table, {"name": stage.name}, i)
                for key in CONFIG_KEYS[table]:
                    key.check(getattr(stage, key.name), where, label)
        seen: set[str] = {"text"}
        for stage in self.stage_specs():
            if not stage.name.isidentifier() or stage.name in seen:
                raise fail("E055", where=where, problem=f"stage name {stage.name!r} is not a "
                           "unique identifier (names must differ from each other and from "
                           "'text')")
            seen.add(stage.name)
        blocklists = [b.name for b in self.blocklists]
        for i, c in enumerate(self.classifiers, 1):
            _check_hits_from(c, blocklists, f"{where}: {_label('classifier', {'name': c.name}, i)}")
        self.compile_rules()

    def available(self) -> dict[str, str]:
        """Every name a ``drop_if`` rule may use, with its type."""
        names = dict(TEXT_FIELDS)
        for stage in self.stage_specs():
            names.update(stage.fields())
        return names

    def stage_specs(self) -> tuple[BlocklistSpec | ClassifierSpec, ...]:
        """The blocklist and classifier stages, in the order they run."""
        return (*self.blocklists, *self.classifiers)

    def compile_rules(self) -> tuple[dict[str, Rule], list[tuple[str, Rule]]]:
        """Parsed ``run_if`` rules per classifier, and ``(reason, rule)`` drop rules in order.

        A ``run_if`` may use only the text fields, the blocklists and earlier classifiers.
        """
        names = dict(TEXT_FIELDS)
        for b in self.blocklists:
            names.update(b.fields())
        run_if = {}
        for c in self.classifiers:
            if c.run_if:
                run_if[c.name] = Rule(c.run_if, names, where=f"classifier.{c.name}.run_if")
            names.update(c.fields())
        drops: list[tuple[str, Rule]] = []
        for reason, text in self.drop_if:
            if len(self.drop_if) == 1 and reason == "drop_if":
                drops += [(r.source, r) for r in split_disjuncts(text, names, "drop_if")]
            else:
                drops.append((reason, Rule(text, names, where=f"drop_if.{reason}")))
        return run_if, drops

    # -- identity ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The spec as JSON-able data (paths already resolved)."""
        data = asdict(self)
        data.pop("source")
        for c in data["classifiers"]:  # left out unset: an existing filter's fingerprint holds
            if c["windows"] == "all" and c["hits_from"] is None:
                del c["windows"], c["hits_from"]
        return data

    def fingerprint(self) -> str:
        """sha256 over the spec and the bytes of every file it reads (lists, models)."""
        h = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode())
        paths = [Path(f) for b in self.blocklists for f in b.files]
        for c in self.classifiers:
            model = Path(c.model)
            paths += sorted(p for p in model.rglob("*") if p.is_file()) if model.is_dir() else []
        for p in paths:
            h.update(str(p).encode())
            with open(p, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
        return h.hexdigest()


def _check_hits_from(c: ClassifierSpec, blocklists: list[str], label: str) -> None:
    """``windows = "around_hits"`` and ``hits_from`` (a blocklist's name) go together."""
    if c.windows == "around_hits" and c.hits_from not in blocklists:
        got = "is missing" if c.hits_from is None else f"is {c.hits_from!r}"
        raise fail("E055", where=label.rstrip(": "), problem=f'windows = "around_hits" '
                   f"needs hits_from = the name of a [[blocklist]] ({blocklists or 'none'}); "
                   f"hits_from {got}")
    if c.windows != "around_hits" and c.hits_from is not None:
        raise fail("E055", where=label.rstrip(": "), problem=f"hits_from = {c.hits_from!r} "
                   'is only read with windows = "around_hits"; add it or remove hits_from')


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".txt", ".tsv", ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def _entries(value: dict | list[dict]) -> list[dict]:
    """A ``[[table]]`` array (or one ``[table]``) as a list of tables (already checked)."""
    return [value] if isinstance(value, dict) else value


def _resolve(pattern: str, bases: list[Path], where: str, want_dir: bool = False) -> list[str]:
    """Resolve a file (or glob, or model dir) against the config dir, then models/."""
    candidates = [Path(pattern)] if Path(pattern).is_absolute() else [
        b / pattern for b in [*bases, defaults.models_dir()]
    ]
    for cand in candidates:
        if any(ch in str(cand) for ch in "*?["):
            found = sorted(glob.glob(str(cand)))
            if found:
                return [str(Path(f).resolve()) for f in found]
        elif (cand.is_dir() if want_dir else cand.is_file()):
            return [str(cand.resolve())]
    looked = ", ".join(str(c) for c in candidates)
    raise fail("E056", where=where, pattern=pattern, looked=looked)


def _blocklist(entry: dict, index: int, bases: list[Path], where: str) -> BlocklistSpec:
    label = _label("blocklist", entry, index)
    values = _require(_checked(entry, "blocklist", where, label), "blocklist", where, label)
    name = values.pop("name")
    resolved = tuple(f for pat in values.pop("files")
                     for f in _resolve(pat, bases, f"{where}: blocklist"))
    return BlocklistSpec(name=name, files=resolved, category_names=_categories(resolved),
                         **values)


def _categories(files: tuple[str, ...]) -> tuple[str, ...]:
    """Categories a matcher built from ``files`` will have (``.txt``: the stem, no read)."""
    from engine.match import patterns

    names = {_stem(f) for f in files if f.endswith(".txt")}
    rich = [f for f in files if not f.endswith(".txt")]
    names.update(category for _, category, _, _ in patterns.from_files(rich))
    return tuple(sorted(names))


def _classifier(entry: dict, index: int, bases: list[Path], where: str) -> ClassifierSpec:
    label = _label("classifier", entry, index)
    values = _require(_checked(entry, "classifier", where, label), "classifier", where, label)
    name = values.pop("name")
    model = values.pop("model")
    model_dir = _resolve(model, bases, f"{where}: classifier {name!r}", want_dir=True)[0]
    return ClassifierSpec(name=name, model=model_dir, labels=_labels(model_dir), **values)


def _labels(model_dir: str) -> tuple[str, ...]:
    """Label names from the model card, when the model scores several labels."""
    card = Path(model_dir) / "model.json"
    try:
        labels = json.loads(card.read_text()).get("labels") or []
    except (OSError, ValueError):
        return ()
    labels = [str(x) for x in labels]
    usable = len(labels) > 2 and all(x.isidentifier() for x in labels)
    return tuple(labels) if usable else ()
