"""Query cost and the leaky bucket each access token draws on.

Requested cost is computed from the document before running it (page sizes as asked); actual
cost from the data returned. A request costing more than the bucket holds is THROTTLED.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)

MAX_QUERY_COST = 1000
CONNECTION_OVERHEAD = 2
MUTATION_COST = 10


class CostCalculator:
    """Shopify's documented cost rules: scalars and enums 0, objects 1, connections
    `first` x (1 + child cost) + 2, mutation fields 10. Requested cost reads the page sizes
    asked for; actual cost walks the data really returned."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def _arg(self, node: FieldNode, name: str) -> Any:
        for arg in node.arguments or ():
            if arg.name.value == name:
                return ast_value(arg.value, self.variables)
        return None

    def _groups(
        self, parent: Any, selection: SelectionSetNode | None
    ) -> tuple[list[tuple[Any, FieldNode]], dict[str, list[tuple[Any, FieldNode]]]]:
        """Fields on the parent type, and fields of type-conditioned fragments by type."""
        common: list[tuple[Any, FieldNode]] = []
        by_type: dict[str, list[tuple[Any, FieldNode]]] = {}
        if selection is None:
            return common, by_type

        def walk(parent_type: Any, sel: SelectionSetNode, bucket: str | None) -> None:
            for item in sel.selections:
                if isinstance(item, FieldNode):
                    target = common if bucket is None else by_type.setdefault(bucket, [])
                    target.append((parent_type, item))
                    continue
                if isinstance(item, InlineFragmentNode):
                    cond, sub = item.type_condition, item.selection_set
                else:
                    assert isinstance(item, FragmentSpreadNode)
                    frag = self.fragments[item.name.value]
                    cond, sub = frag.type_condition, frag.selection_set
                name = cond.name.value if cond else parent_type.name
                inner = self.schema.get_type(name) or parent_type
                walk(inner, sub, bucket if name == parent_type.name else name)

        walk(parent, selection, None)
        return common, by_type

    def requested(self, parent: Any, selection: SelectionSetNode | None) -> int:
        common, by_type = self._groups(parent, selection)
        cost = sum(self._field_requested(p, f) for p, f in common)
        extra = [sum(self._field_requested(p, f) for p, f in fs) for fs in by_type.values()]
        return cost + (max(extra) if extra else 0)

    def _field_requested(self, parent: Any, node: FieldNode) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        if parent is self.schema.mutation_type:
            return MUTATION_COST
        if isinstance(named, (GraphQLScalarType, GraphQLEnumType)):
            return 0
        if name == "nodes" and parent is self.schema.query_type:
            ids = self._arg(node, "ids") or []
            return len(ids) * (1 + self.requested(named, node.selection_set))
        if named.name.endswith("Connection"):
            child = self._connection_child(named, node.selection_set, requested=True)
            return CONNECTION_OVERHEAD + int(self._arg(node, "first") or 0) * child
        child = 1 + self.requested(named, node.selection_set)
        if _is_list(definition.type) and self._arg(node, "first") is not None:
            return int(self._arg(node, "first")) * child
        return child

    def _connection_child(self, conn: Any, sel: SelectionSetNode | None, requested: bool) -> int:
        best = 0
        for _, node in self._groups(conn, sel)[0]:
            if node.name.value == "nodes":
                best = max(
                    best,
                    1
                    + self.requested(get_named_type(conn.fields["nodes"].type), node.selection_set),
                )
            elif node.name.value == "edges":
                edge = get_named_type(conn.fields["edges"].type)
                for _, inner in self._groups(edge, node.selection_set)[0]:
                    if inner.name.value == "node":
                        node_type = get_named_type(edge.fields["node"].type)
                        best = max(best, 1 + self.requested(node_type, inner.selection_set))
        return best

    def actual(self, parent: Any, selection: SelectionSetNode | None, data: Any) -> int:
        if data is None:
            return 0
        if isinstance(data, list):
            return sum(self.actual(parent, selection, item) for item in data)
        common, by_type = self._groups(parent, selection)
        cost = sum(self._field_actual(p, f, data) for p, f in common)
        extra = [
            sum(self._field_actual(p, f, data) for p, f in fs)
            for fs in by_type.values()
            if all(_key(f) in data for _, f in fs)
        ]
        return cost + (max(extra) if extra else 0)

    def _field_actual(self, parent: Any, node: FieldNode, data: dict[str, Any]) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields[name]
        named = get_named_type(definition.type)
        value = data.get(_key(node))
        if parent is self.schema.mutation_type:
            return MUTATION_COST
        if isinstance(named, (GraphQLScalarType, GraphQLEnumType)) or value is None:
            return 0
        if named.name.endswith("Connection"):
            total = CONNECTION_OVERHEAD
            for _, inner in self._groups(named, node.selection_set)[0]:
                items = value.get(_key(inner)) or []
                if inner.name.value == "nodes":
                    node_type = get_named_type(named.fields["nodes"].type)
                    total += len(items) + self.actual(node_type, inner.selection_set, items)
                elif inner.name.value == "edges":
                    edge = get_named_type(named.fields["edges"].type)
                    node_type = get_named_type(edge.fields["node"].type)
                    for _, sub in self._groups(edge, inner.selection_set)[0]:
                        if sub.name.value == "node":
                            nodes = [e.get(_key(sub)) for e in items]
                            total += len(nodes) + self.actual(node_type, sub.selection_set, nodes)
            return total
        if isinstance(value, list):
            return len(value) + self.actual(named, node.selection_set, value)
        return 1 + self.actual(named, node.selection_set, value)


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def ast_value(node: Any, variables: dict[str, Any]) -> Any:
    kind = node.kind
    if kind == "variable":
        return variables.get(node.name.value)
    if kind == "int_value":
        return int(node.value)
    if kind in ("string_value", "enum_value"):
        return node.value
    if kind == "list_value":
        return [ast_value(v, variables) for v in node.values]
    if kind == "boolean_value":
        return node.value
    return None


@dataclass
class Bucket:
    maximum: float
    restore_rate: float
    available: float
    stamp: float = field(default_factory=time.monotonic)

    def refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.stamp) * self.restore_rate)
        self.stamp = now

    def status(self) -> dict[str, Any]:
        return {
            "maximumAvailable": float(self.maximum),
            "currentlyAvailable": int(self.available),
            "restoreRate": float(self.restore_rate),
        }
