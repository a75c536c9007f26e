"""The decision language: a small whitelist grammar evaluated over whole columns.

Rules such as ``cbrn.distinct >= 2 or (cbrn.count >= 1 and toxicity.score > 0.8)`` come
from config files, so they are parsed by a hand-written operator-precedence parser that
knows only numbers, dotted names, comparisons, ``+ - * /``, ``and``/``or``/``not`` and
parentheses. Nothing is ever handed to Python's ``eval``. A parsed rule is type-checked
against the names the stages provide before any data is read, then evaluated once per batch
with NumPy (one array operation per node, never a Python object per row).

Size limits: parsing, checking and evaluating use explicit stacks, never recursion, so a
rule generated from a term list (``a or b or ...`` with thousands of alternatives, long
``+`` or ``and`` chains) parses and evaluates in time linear in its length; an ``and``/``or``
chain is one n-ary node. Parentheses may nest at most ``MAX_NESTING`` (64) levels deep;
deeper nesting is a ``ConfigError`` E058 naming the column of the first parenthesis too
many (write a long chain without parentheses, or split it into several reasons).

Grammar::

    expr  := or
    or    := and ('or' and)*
    and   := not ('and' not)*
    not   := 'not' not | cmp
    cmp   := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
    sum   := term (('+' | '-') term)*
    term  := unary (('*' | '/') unary)*
    unary := '-' unary | atom
    atom  := NUMBER | 'true' | 'false' | NAME ('.' NAME)* | '(' expr ')'

A comparison involving NaN (a classifier score for a row the model did not see, because a
``run_if`` cascade skipped it) is false.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import reduce

import numpy as np

from engine.errors import EngineError, fail

NUM = "number"
BOOL = "bool"
#: The deepest nesting of parentheses a rule may use (E058 beyond it).
MAX_NESTING = 64

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)"
    r"|(?P<op><=|>=|==|!=|[<>()+\-*/]))"
)
_SPACE = re.compile(r"\s*")
_KEYWORDS = {"and", "or", "not", "true", "false"}
_COMPARE = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


@dataclass(frozen=True)
class _Token:
    kind: str  # "num", "name", "op", "kw", "end"
    text: str
    pos: int


@dataclass(frozen=True)
class _Node:
    op: str  # "num", "bool", "name", "neg", "not", "and", "or", a comparison or arithmetic op
    args: tuple[_Node, ...] = ()  # two or more for "and"/"or" (a whole chain), else 1 or 2
    value: float | bool | None = None  # of "num" and "bool"
    pos: int = 0
    name: str = ""  # of "name"


def _tokenize(source: str, where: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(source):
        space = _SPACE.match(source, pos)
        col = space.end() if space else pos
        if col == len(source):
            break
        m = _TOKEN.match(source, pos)
        kind = m.lastgroup if m else None
        if m is None or kind is None or m.end() == pos:
            raise _syntax(where, source, col, f"unexpected character {source[col]!r}")
        text = m.group(kind)
        start = m.start(kind)
        if kind == "name" and text in _KEYWORDS:
            kind = "kw"
        tokens.append(_Token(kind, text, start))
        pos = m.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _syntax(where: str, source: str, col: int, what: str) -> EngineError:
    return fail("E051", where=where, problem=what, column=col + 1, source=source,
                caret=" " * col + "^")


@dataclass
class _Op:
    """A pending operator (or an open parenthesis) on the parser's stack."""

    text: str  # "(", "not", "neg", or a binary operator
    pos: int
    prec: int
    arity: int  # operands it takes when reduced; an and/or chain grows it


#: Binding strength of the binary operators (higher binds tighter) and of the two prefix
#: operators: ``not`` applies to a whole comparison, ``-`` to one operand.
_PREC = {"or": 1, "and": 2, **dict.fromkeys(_COMPARE, 4), "+": 5, "-": 5, "*": 6, "/": 6}
_NOT, _CMP, _NEG = 3, 4, 7
#: ``not`` may follow only these (or stand first): the grammar's ``and := not ...``.
_BEFORE_NOT = {"(", "and", "or", "not"}


class _Parser:
    """An operator-precedence parser with explicit stacks: it never recurses, so neither a
    long ``or`` chain nor deep parentheses can exhaust Python's stack; parentheses deeper
    than ``MAX_NESTING`` are refused (E058). ``a or b or c`` becomes one n-ary node."""

    def __init__(self, source: str, where: str):
        self.source, self.where = source, where
        self.tokens = _tokenize(source, where)

    def fail(self, tok: _Token, what: str) -> EngineError:
        shown = repr(tok.text) if tok.kind != "end" else "end of rule"
        return _syntax(self.where, self.source, tok.pos, f"{what}, found {shown}")

    def parse(self) -> _Node:
        tokens = self.tokens
        if tokens[0].kind == "end":
            raise self.fail(tokens[0], "expected an expression")
        out: list[_Node] = []  # finished operands
        ops: list[_Op] = []  # pending operators and open parentheses, innermost last
        depth, i = 0, 0
        while True:
            # an operand: prefix operators and '(' until a number, name, true or false
            tok = tokens[i]
            i += 1
            if tok.kind == "kw" and tok.text == "not":
                if ops and ops[-1].text not in _BEFORE_NOT:
                    raise self.fail(tok, "expected a number, a name or '('")
                ops.append(_Op("not", tok.pos, _NOT, 1))
                continue
            if tok.kind == "op" and tok.text == "-":
                ops.append(_Op("neg", tok.pos, _NEG, 1))
                continue
            if tok.kind == "op" and tok.text == "(":
                depth += 1
                if depth > MAX_NESTING:
                    raise fail("E058", where=self.where, limit=MAX_NESTING,
                               column=tok.pos + 1)
                ops.append(_Op("(", tok.pos, 0, 0))
                continue
            out.append(self.atom(tok))
            # then closing parentheses, and a binary operator or the end
            tok = tokens[i]
            i += 1
            while tok.kind == "op" and tok.text == ")" and depth:
                _reduce(out, ops, 1)
                ops.pop()  # the matching '('
                depth -= 1
                tok = tokens[i]
                i += 1
            prec = _PREC.get(tok.text) if tok.kind in ("op", "kw") else None
            if prec is None:
                if tok.kind == "end" and not depth:
                    _reduce(out, ops, 1)
                    return out[0]
                raise self.fail(tok, "expected ')'" if depth
                                else "expected 'and', 'or' or the end of the rule")
            if tok.text in ("and", "or"):
                _reduce(out, ops, prec + 1)
                if ops and ops[-1].text == tok.text:
                    ops[-1].arity += 1  # one n-ary node for the whole chain
                    continue
            else:
                _reduce(out, ops, max(prec, _CMP + 1))
                if prec == _CMP and ops and ops[-1].prec == _CMP:
                    raise self.fail(tok, "chained comparisons are not allowed; join them "
                                    "with 'and'")
            ops.append(_Op(tok.text, tok.pos, prec, 2))

    def atom(self, tok: _Token) -> _Node:
        if tok.kind == "num":
            return _Node("num", value=float(tok.text), pos=tok.pos)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return _Node("bool", value=tok.text == "true", pos=tok.pos)
        if tok.kind == "name":
            return _Node("name", pos=tok.pos, name=tok.text)
        raise self.fail(tok, "expected a number, a name or '('")


def _reduce(out: list[_Node], ops: list[_Op], min_prec: int) -> None:
    """Apply the pending operators that bind at least ``min_prec`` (stopping at '(')."""
    while ops and ops[-1].prec >= min_prec:
        op = ops.pop()
        args = tuple(out[-op.arity:])
        del out[-op.arity:]
        out.append(_Node(op.text, args, pos=op.pos))


class Rule:
    """One parsed, type-checked rule; evaluate it on a batch's columns.

    Args:
        source: the rule text, e.g. ``"cbrn.count >= 1 and spam.score > 0.9"``.
        names: the names the rule may use, mapped to ``"number"`` or ``"bool"``.
        where: how errors name the rule (e.g. ``"drop_if.cbrn"``).

    Raises:
        ConfigError: E051 syntax, E052 unknown name, E053 type mismatch, E058 parentheses
            nested deeper than ``MAX_NESTING``; each message points at the column in the
            rule text. E055 when ``source`` is not a string.
    """

    def __init__(self, source: str, names: Mapping[str, str], where: str = "rule"):
        if not isinstance(source, str):
            raise fail("E055", where=f"rule {where}", problem=f"expected a string, got "
                       f"{source!r}")
        self.source = source
        self.where = where
        self._tree = _Parser(source, where).parse()
        self.names = frozenset(n.name for n in _postorder(self._tree) if n.op == "name")
        if self._check(names) != BOOL:
            raise fail("E053", where=where, source=source,
                       problem="it is a number, not a condition; compare it (e.g. '... >= 1')")
        self._types = {name: names[name] for name in self.names}

    def __repr__(self) -> str:
        return f"Rule({self.source!r})"

    def __reduce__(self):
        """Pickle as its text (re-parsed on load): a deep tree would exhaust pickle's stack."""
        return Rule, (self.source, self._types, self.where)

    def _check(self, names: Mapping[str, str]) -> str:
        """The rule's type, checking every node bottom-up (without recursion)."""
        kinds: list[str] = []
        for node in _postorder(self._tree):
            op = node.op
            if op == "num":
                kinds.append(NUM)
                continue
            if op == "bool":
                kinds.append(BOOL)
                continue
            if op == "name":
                if node.name not in names:
                    known = ", ".join(sorted(names)) or "(none)"
                    raise fail("E052", where=self.where, name=node.name, column=node.pos + 1,
                               source=self.source, known=known)
                kinds.append(names[node.name])
                continue
            args = kinds[-len(node.args):]
            del kinds[-len(node.args):]
            want, gives = (BOOL, BOOL) if op in ("and", "or", "not") else (NUM, NUM)
            if op in _COMPARE:
                gives = BOOL
            for arg, kind in zip(node.args, args, strict=True):
                if kind != want:
                    at = "" if op in ("and", "or") else f" at column {node.pos + 1}"
                    raise fail("E053", where=self.where, source=self.source,
                               problem=f"{op!r}{at} needs a {want} operand but got a {kind} "
                               f"(at column {arg.pos + 1})")
            kinds.append(gives)
        return kinds[0]

    def evaluate(self, columns: Mapping[str, object], n: int) -> np.ndarray:
        """The rule's value for each of ``n`` rows, as ``bool[n]``.

        Args:
            columns: each name the rule uses, as a NumPy array of length ``n`` or a scalar.
            n: the number of rows.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            value = _eval(self._tree, columns)
        return np.broadcast_to(np.asarray(value, dtype=bool), (n,)).copy()


def _postorder(root: _Node) -> Iterator[_Node]:
    """Every node, operands before their operator, left to right, with an explicit stack."""
    stack: list[tuple[_Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or not node.args:
            yield node
        else:
            stack.append((node, True))
            stack.extend((arg, False) for arg in reversed(node.args))


def _eval(root: _Node, columns: Mapping[str, object]):
    values: list = []
    for node in _postorder(root):
        op = node.op
        if op in ("num", "bool"):
            values.append(node.value)
            continue
        if op == "name":
            values.append(columns[node.name])
            continue
        args = values[-len(node.args):]
        del values[-len(node.args):]
        if op == "not":
            values.append(np.logical_not(args[0]))
        elif op == "and":
            values.append(reduce(np.logical_and, args))
        elif op == "or":
            values.append(reduce(np.logical_or, args))
        elif op == "neg":
            values.append(np.negative(args[0]))
        elif op in _COMPARE:
            values.append(_COMPARE[op](args[0], args[1]))
        else:
            values.append(_ARITH[op](np.asarray(args[0], dtype=np.float64), args[1]))
    return values[0]


def split_disjuncts(source: str, names: Mapping[str, str], where: str) -> list[Rule]:
    """Split ``a or b or c`` at its top level into one rule per alternative.

    A single ``drop_if`` string then still says *which* alternative removed a row: each
    alternative becomes a reason, named by its own text.
    """
    tree = _Parser(source, where).parse()
    if tree.op != "or":
        return [Rule(source, names, where)]
    rules, start = [], 0
    for end in [*_top_or_positions(source, where), len(source)]:
        rules.append(Rule(_strip_parens(source[start:end].strip()), names, where))
        start = end + len("or")
    return rules


def _top_or_positions(source: str, where: str) -> list[int]:
    depth, positions = 0, []
    for tok in _tokenize(source, where):
        if tok.text == "(" and tok.kind == "op":
            depth += 1
        elif tok.text == ")" and tok.kind == "op":
            depth -= 1
        elif tok.kind == "kw" and tok.text == "or" and depth == 0:
            positions.append(tok.pos)
    return positions


def _strip_parens(text: str) -> str:
    """Drop one pair of parentheses that wraps the whole text, e.g. ``(a and b)``."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1].strip()
    return text
