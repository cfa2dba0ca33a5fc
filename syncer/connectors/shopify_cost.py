"""Shopify's query cost, computed from a GraphQL document before it is sent.

Shopify refuses a query whose requested cost exceeds 1,000 points, and a client that knows
the cost can pace itself against the cost bucket instead of meeting THROTTLED. The client
uses `estimate_cost` to pace every request and `fit_size` to pick the largest page (or id
list) that stays under the limit.

The documents are read by the small parser below, not by the `graphql` library: costing needs
only fields, arguments, fragments and selection sets, and importing that library would be a
third of the CLI's start-up CPU on every run. Unknown syntax raises ValueError rather than
being costed wrongly; every document the client sends is checked against the sandbox's cost
calculator (built on the library) by the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
CONNECTION_OVERHEAD = 2
MUTATION_COST = 10

# GraphQL's lexical tokens; commas, whitespace and comments are ignored.
_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<block>\"\"\"(?:\\\"\"\"|[^"]|"(?!""))*\"\"\")
  | (?P<string>"(?:\\.|[^"\\\n\r])*")
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&()\[\]{}:=@|])
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    """,
    re.VERBOSE,
)


@dataclass
class _Field:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    selections: list[Any] | None = None  # None: a leaf


@dataclass
class _Inline:
    selections: list[Any]


@dataclass
class _Spread:
    name: str


@dataclass
class _Variable:
    name: str


@dataclass
class _Document:
    operations: list[tuple[str, list[Any]]]  # (query | mutation | subscription, selections)
    fragments: dict[str, list[Any]]


class _Parser:
    """Recursive descent over the executable part of GraphQL: operations, fragments,
    selections, arguments, values and directives (read and ignored)."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        at = 0
        while at < len(text):
            match = _TOKEN.match(text, at)
            if match is None:
                raise ValueError(f"unexpected {text[at : at + 20]!r} in a GraphQL document")
            kind = str(match.lastgroup)
            if kind != "skip":
                self.tokens.append((kind, match.group()))
            at = match.end()
        self.at = 0

    def peek(self) -> str:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise ValueError("a GraphQL document ends early")
        token = self.tokens[self.at]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r} in a GraphQL document, got {token[1]!r}")
        self.at += 1
        return token

    def name(self) -> str:
        kind, text = self.take()
        if kind != "name":
            raise ValueError(f"expected a name in a GraphQL document, got {text!r}")
        return text

    def document(self) -> _Document:
        operations: list[tuple[str, list[Any]]] = []
        fragments: dict[str, list[Any]] = {}
        while self.at < len(self.tokens):
            if self.peek() == "{":
                operations.append(("query", self.selection_set()))
                continue
            keyword = self.name()
            if keyword == "fragment":
                fragment = self.name()
                self.take("on")
                self.name()
                self.directives()
                fragments[fragment] = self.selection_set()
            elif keyword in ("query", "mutation", "subscription"):
                if self.tokens[self.at][0] == "name":
                    self.name()
                if self.peek() == "(":
                    self.skip_group("(", ")")
                self.directives()
                operations.append((keyword, self.selection_set()))
            else:
                raise ValueError(f"unexpected {keyword!r} in a GraphQL document")
        return _Document(operations, fragments)

    def skip_group(self, opening: str, closing: str) -> None:
        depth = 0
        while True:
            _, text = self.take()
            depth += (text == opening) - (text == closing)
            if depth == 0:
                return

    def directives(self) -> None:
        while self.peek() == "@":
            self.take("@")
            self.name()
            if self.peek() == "(":
                self.arguments()

    def selection_set(self) -> list[Any]:
        self.take("{")
        selections: list[Any] = []
        while self.peek() != "}":
            selections.append(self.selection())
        self.take("}")
        return selections

    def selection(self) -> Any:
        if self.peek() == "...":
            self.take("...")
            if self.peek() == "on":
                self.take("on")
                self.name()
            elif self.peek() not in ("@", "{"):
                spread = _Spread(self.name())
                self.directives()
                return spread
            self.directives()
            return _Inline(self.selection_set())
        name = self.name()
        if self.peek() == ":":  # an alias: the field is the name after it
            self.take(":")
            name = self.name()
        arguments = self.arguments() if self.peek() == "(" else {}
        self.directives()
        selections = self.selection_set() if self.peek() == "{" else None
        return _Field(name, arguments, selections)

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        arguments: dict[str, Any] = {}
        while self.peek() != ")":
            name = self.name()
            self.take(":")
            arguments[name] = self.value()
        self.take(")")
        return arguments

    def value(self) -> Any:
        kind, text = self.take()
        if text == "$":
            return _Variable(self.name())
        if text == "[":
            values = []
            while self.peek() != "]":
                values.append(self.value())
            self.take("]")
            return values
        if text == "{":
            fields = {}
            while self.peek() != "}":
                name = self.name()
                self.take(":")
                fields[name] = self.value()
            self.take("}")
            return fields
        if kind == "number":
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        if kind in ("string", "block", "name"):
            return text
        raise ValueError(f"unexpected {text!r} as a GraphQL value")


_parsed: dict[str, _Document] = {}


def _document(text: str) -> _Document:
    document = _parsed.get(text)
    if document is None:
        document = _parsed[text] = _Parser(text).document()
    return document


def estimate_cost(document: str, variables: dict[str, Any] | None = None) -> int:
    """Shopify's requested query cost, from the document alone.

    The documented rules: scalars 0, objects 1, a connection (a field with `first`) costs
    2 + first x (1 + cost of a node), `nodes(ids:)` costs len(ids) x (1 + cost of a node),
    each mutation field 10. A field with a selection set is an object; a leaf is a scalar.
    """
    variables = variables or {}
    parsed = _document(document)
    fragments = parsed.fragments

    def value(node: Any) -> Any:
        if isinstance(node, _Variable):
            return variables.get(node.name)
        if isinstance(node, list):
            return [value(v) for v in node]
        return node

    def arg(item: _Field, name: str) -> Any:
        return value(item.arguments[name]) if name in item.arguments else None

    def selection_cost(selections: list[Any] | None) -> int:
        if selections is None:
            return 0
        total = 0
        alternatives = []
        for item in selections:
            if isinstance(item, _Field):
                total += field_cost(item)
            elif isinstance(item, _Inline):
                alternatives.append(selection_cost(item.selections))
            elif isinstance(item, _Spread):
                total += selection_cost(fragments[item.name])
        return total + (max(alternatives) if alternatives else 0)

    def connection_child(item: _Field) -> int:
        best = 0
        for child in item.selections or ():
            if isinstance(child, _Field) and child.name == "nodes":
                best = max(best, 1 + selection_cost(child.selections))
            elif isinstance(child, _Field) and child.name == "edges":
                for inner in child.selections or ():
                    if isinstance(inner, _Field) and inner.name == "node":
                        best = max(best, 1 + selection_cost(inner.selections))
        return best

    def field_cost(item: _Field) -> int:
        if item.selections is None or item.name.startswith("__"):
            return 0
        first = arg(item, "first")
        names = {s.name for s in item.selections if isinstance(s, _Field)}
        if names & {"nodes", "edges", "pageInfo"}:
            # A connection without `first` only appears in bulk queries, which are not
            # costed per node; it is counted as the sandbox counts it (overhead only).
            return CONNECTION_OVERHEAD + int(first or 0) * connection_child(item)
        if first is not None:
            return int(first) * (1 + selection_cost(item.selections))
        return 1 + selection_cost(item.selections)

    total = 0
    for operation, selections in parsed.operations:
        for item in selections:
            if not isinstance(item, _Field):
                continue
            if operation == "mutation":
                total += MUTATION_COST
            elif item.name == "nodes" and arg(item, "ids") is not None:
                total += len(arg(item, "ids")) * (1 + selection_cost(item.selections))
            else:
                total += field_cost(item)
    return total


def fit_size(
    document: str,
    variables: dict[str, Any],
    name: str,
    wanted: int,
    limit: int = MAX_PAGE_SIZE,
    budget: int = MAX_QUERY_COST,
) -> int:
    """The largest value of the size variable `name` (<= wanted) that keeps the query cost
    under the limit. `name` may also be a list variable (ids), sized by its length."""

    def cost(size: int) -> int:
        sample: Any = size if name != "ids" else ["gid://shopify/Node/0"] * size
        return estimate_cost(document, {**variables, name: sample})

    one, two = cost(1), cost(2)
    per_item = max(1, two - one)
    fixed = one - per_item
    size = min(wanted, limit, (budget - fixed) // per_item)
    if size < 1:
        raise ValueError(f"a single item of this query costs more than {budget} points")
    return size
