"""Shopify's query cost, computed from a GraphQL document before it is sent.

Shopify refuses a query whose requested cost exceeds 1,000 points, and a client that knows
the cost can pace itself against the cost bucket instead of meeting THROTTLED. The client
uses `estimate_cost` to pace every request and `fit_size` to pick the largest page (or id
list) that stays under the limit.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode
from graphql import parse as parse_graphql

MAX_QUERY_COST = 1000
MAX_PAGE_SIZE = 250
CONNECTION_OVERHEAD = 2
MUTATION_COST = 10

_parsed: dict[str, Any] = {}


def _document(text: str) -> Any:
    document = _parsed.get(text)
    if document is None:
        document = _parsed[text] = parse_graphql(text)
    return document


def estimate_cost(document: str, variables: dict[str, Any] | None = None) -> int:
    """Shopify's requested query cost, from the document alone.

    The documented rules: scalars 0, objects 1, a connection (a field with `first`) costs
    2 + first x (1 + cost of a node), `nodes(ids:)` costs len(ids) x (1 + cost of a node),
    each mutation field 10. A field with a selection set is an object; a leaf is a scalar.
    """
    variables = variables or {}
    parsed = _document(document)
    fragments = {d.name.value: d for d in parsed.definitions if hasattr(d, "type_condition")}

    def value(node: Any) -> Any:
        if node.kind == "variable":
            return variables.get(node.name.value)
        if node.kind == "int_value":
            return int(node.value)
        if node.kind == "list_value":
            return [value(v) for v in node.values]
        return getattr(node, "value", None)

    def arg(field: FieldNode, name: str) -> Any:
        for item in field.arguments or ():
            if item.name.value == name:
                return value(item.value)
        return None

    def selection_cost(selection_set: Any) -> int:
        if selection_set is None:
            return 0
        total = 0
        alternatives = []
        for item in selection_set.selections:
            if isinstance(item, FieldNode):
                total += field_cost(item)
            elif isinstance(item, InlineFragmentNode):
                alternatives.append(selection_cost(item.selection_set))
            elif isinstance(item, FragmentSpreadNode):
                total += selection_cost(fragments[item.name.value].selection_set)
        return total + (max(alternatives) if alternatives else 0)

    def connection_child(field: FieldNode) -> int:
        best = 0
        for item in field.selection_set.selections if field.selection_set else ():
            if isinstance(item, FieldNode) and item.name.value == "nodes":
                best = max(best, 1 + selection_cost(item.selection_set))
            elif isinstance(item, FieldNode) and item.name.value == "edges":
                for inner in item.selection_set.selections if item.selection_set else ():
                    if isinstance(inner, FieldNode) and inner.name.value == "node":
                        best = max(best, 1 + selection_cost(inner.selection_set))
        return best

    def field_cost(field: FieldNode) -> int:
        if field.selection_set is None or field.name.value.startswith("__"):
            return 0
        first = arg(field, "first")
        names = {s.name.value for s in field.selection_set.selections if isinstance(s, FieldNode)}
        if names & {"nodes", "edges", "pageInfo"}:
            # A connection without `first` only appears in bulk queries, which are not
            # costed per node; it is counted as the sandbox counts it (overhead only).
            return CONNECTION_OVERHEAD + int(first or 0) * connection_child(field)
        if first is not None:
            return int(first) * (1 + selection_cost(field.selection_set))
        return 1 + selection_cost(field.selection_set)

    total = 0
    for definition in parsed.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for item in definition.selection_set.selections:
            if not isinstance(item, FieldNode):
                continue
            if definition.operation.value == "mutation":
                total += MUTATION_COST
            elif item.name.value == "nodes" and arg(item, "ids") is not None:
                total += len(arg(item, "ids")) * (1 + selection_cost(item.selection_set))
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
