"""The decision language: a small whitelist grammar evaluated over whole columns.

Rules such as ``cbrn.distinct >= 2 or (cbrn.count >= 1 and toxicity.score > 0.8)`` come
from config files, so they are parsed by a hand-written recursive-descent parser that knows
only numbers, dotted names, comparisons, ``+ - * /``, ``and``/``or``/``not`` and
parentheses. Nothing is ever handed to Python's ``eval``. A parsed rule is type-checked
against the names the stages provide before any data is read, then evaluated once per batch
with NumPy (one array operation per node, never a Python object per row).

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

import numpy as np

from engine.errors import EngineError, fail

NUM = "number"
BOOL = "bool"

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)"
    r"|(?P<op><=|>=|==|!=|[<>()+\-*/]))"
)
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
    args: tuple[_Node, ...] = ()
    value: float | bool | None = None  # of "num" and "bool"
    pos: int = 0
    name: str = ""  # of "name"


def _tokenize(source: str, where: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(source):
        if source[pos:].strip() == "":
            break
        m = _TOKEN.match(source, pos)
        kind = m.lastgroup if m else None
        if m is None or kind is None or m.end() == pos:
            col = pos + len(source[pos:]) - len(source[pos:].lstrip())
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


class _Parser:
    def __init__(self, source: str, where: str):
        self.source, self.where = source, where
        self.tokens = _tokenize(source, where)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Token, what: str) -> EngineError:
        shown = repr(tok.text) if tok.kind != "end" else "end of rule"
        return _syntax(self.where, self.source, tok.pos, f"{what}, found {shown}")

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise self.fail(self.peek(), "expected an expression")
        node = self.or_()
        if self.peek().kind != "end":
            raise self.fail(self.peek(), "expected 'and', 'or' or the end of the rule")
        return node

    def _chain(self, word: str, sub) -> _Node:
        node = sub()
        while self.peek().kind == "kw" and self.peek().text == word:
            pos = self.take().pos
            node = _Node(word, (node, sub()), pos=pos)
        return node

    def or_(self) -> _Node:
        return self._chain("or", self.and_)

    def and_(self) -> _Node:
        return self._chain("and", self.not_)

    def not_(self) -> _Node:
        tok = self.peek()
        if tok.kind == "kw" and tok.text == "not":
            self.take()
            return _Node("not", (self.not_(),), pos=tok.pos)
        return self.cmp()

    def cmp(self) -> _Node:
        left = self.sum()
        tok = self.peek()
        if tok.kind == "op" and tok.text in _COMPARE:
            self.take()
            node = _Node(tok.text, (left, self.sum()), pos=tok.pos)
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text in _COMPARE:
                raise self.fail(nxt, "chained comparisons are not allowed; join them with 'and'")
            return node
        return left

    def _binary(self, ops: str, sub) -> _Node:
        node = sub()
        while self.peek().kind == "op" and self.peek().text in ops:
            tok = self.take()
            node = _Node(tok.text, (node, sub()), pos=tok.pos)
        return node

    def sum(self) -> _Node:
        return self._binary("+-", self.term)

    def term(self) -> _Node:
        return self._binary("*/", self.unary)

    def unary(self) -> _Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "-":
            self.take()
            return _Node("neg", (self.unary(),), pos=tok.pos)
        return self.atom()

    def atom(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return _Node("num", value=float(tok.text), pos=tok.pos)
        if tok.kind == "kw" and tok.text in ("true", "false"):
            return _Node("bool", value=tok.text == "true", pos=tok.pos)
        if tok.kind == "name":
            return _Node("name", pos=tok.pos, name=tok.text)
        if tok.kind == "op" and tok.text == "(":
            node = self.or_()
            if self.peek().text != ")":
                raise self.fail(self.peek(), "expected ')'")
            self.take()
            return node
        raise self.fail(tok, "expected a number, a name or '('")


class Rule:
    """One parsed, type-checked rule; evaluate it on a batch's columns.

    Args:
        source: the rule text, e.g. ``"cbrn.count >= 1 and spam.score > 0.9"``.
        names: the names the rule may use, mapped to ``"number"`` or ``"bool"``.
        where: how errors name the rule (e.g. ``"drop_if.cbrn"``).

    Raises:
        ConfigError: E051 syntax, E052 unknown name, E053 type mismatch; each message
            points at the column in the rule text. E055 when ``source`` is not a string.
    """

    def __init__(self, source: str, names: Mapping[str, str], where: str = "rule"):
        if not isinstance(source, str):
            raise fail("E055", where=f"rule {where}", problem=f"expected a string, got "
                       f"{source!r}")
        self.source = source
        self.where = where
        self._tree = _Parser(source, where).parse()
        self.names = frozenset(_names_in(self._tree))
        if self._check(self._tree, names) != BOOL:
            raise fail("E053", where=where, source=source,
                       problem="it is a number, not a condition; compare it (e.g. '... >= 1')")

    def __repr__(self) -> str:
        return f"Rule({self.source!r})"

    def _check(self, node: _Node, names: Mapping[str, str]) -> str:
        op = node.op
        if op == "num":
            return NUM
        if op == "bool":
            return BOOL
        if op == "name":
            if node.name not in names:
                known = ", ".join(sorted(names)) or "(none)"
                raise fail("E052", where=self.where, name=node.name, column=node.pos + 1,
                           source=self.source, known=known)
            return names[node.name]
        kinds = [self._check(arg, names) for arg in node.args]
        want, gives = (BOOL, BOOL) if op in ("and", "or", "not") else (NUM, NUM)
        if op in _COMPARE:
            gives = BOOL
        for arg, kind in zip(node.args, kinds, strict=True):
            if kind != want:
                raise fail("E053", where=self.where, source=self.source,
                           problem=f"{op!r} at column {node.pos + 1} needs a {want} operand "
                           f"but got a {kind} (at column {arg.pos + 1})")
        return gives

    def evaluate(self, columns: Mapping[str, object], n: int) -> np.ndarray:
        """The rule's value for each of ``n`` rows, as ``bool[n]``.

        Args:
            columns: each name the rule uses, as a NumPy array of length ``n`` or a scalar.
            n: the number of rows.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            value = _eval(self._tree, columns)
        return np.broadcast_to(np.asarray(value, dtype=bool), (n,)).copy()


def _names_in(node: _Node) -> Iterator[str]:
    if node.op == "name":
        yield node.name
    for arg in node.args:
        yield from _names_in(arg)


def _eval(node: _Node, columns: Mapping[str, object]):
    op = node.op
    if op in ("num", "bool"):
        return node.value
    if op == "name":
        return columns[node.name]
    args = [_eval(arg, columns) for arg in node.args]
    if op == "not":
        return np.logical_not(args[0])
    if op == "and":
        return np.logical_and(args[0], args[1])
    if op == "or":
        return np.logical_or(args[0], args[1])
    if op == "neg":
        return np.negative(args[0])
    if op in _COMPARE:
        return _COMPARE[op](args[0], args[1])
    return _ARITH[op](np.asarray(args[0], dtype=np.float64), args[1])


def split_disjuncts(source: str, names: Mapping[str, str], where: str) -> list[Rule]:
    """Split ``a or b or c`` at its top level into one rule per alternative.

    A single ``drop_if`` string then still says *which* alternative removed a row: each
    alternative becomes a reason, named by its own text.
    """
    tree = _Parser(source, where).parse()
    parts: list[_Node] = []

    def walk(node: _Node) -> None:
        if node.op == "or":
            walk(node.args[0])
            walk(node.args[1])
        else:
            parts.append(node)

    walk(tree)
    if len(parts) == 1:
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
