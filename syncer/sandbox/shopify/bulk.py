"""Bulk query operations for the Shopify sandbox (`bulkOperationRunQuery`).

The rest of the package is the synchronous API. This module holds the documented rules a bulk
query must pass (at least one connection, at most five, nesting at most two deep, no top-level
`node`/`nodes`, no connection inside a list), the JSONL layout of the result (one object per
line; each node of a nested connection is its own line carrying `__parentId`, after its
parent) and the operation record whose status moves CREATED -> RUNNING -> COMPLETED (or
FAILED) as time passes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    parse,
    validate,
)

MAX_CONNECTIONS = 5
MAX_DEPTH = 2
CONCURRENT_QUERIES = 5  # API versions 2026-01 and later
DEFAULT_DELAY = 0.2  # seconds from creation to completion
FINISHED = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})

_MODE = threading.local()


def in_bulk_mode() -> bool:
    """True while a bulk query executes: connections then ignore `first`, as Shopify does."""
    return bool(getattr(_MODE, "active", False))


@contextmanager
def bulk_mode() -> Iterator[None]:
    previous = in_bulk_mode()
    _MODE.active = True
    try:
        yield
    finally:
        _MODE.active = previous


class InvalidBulkQuery(Exception):
    """The query breaks a bulk rule; the message is the userError's."""


def is_connection(type_: Any) -> bool:
    named = get_named_type(type_)
    return (
        isinstance(named, GraphQLObjectType)
        and named.name.endswith("Connection")
        and "edges" in named.fields
    )


def _is_list(type_: Any) -> bool:
    while isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _fields(
    schema: GraphQLSchema,
    parent: Any,
    selection: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
) -> Iterator[tuple[Any, FieldNode]]:
    """(type the field belongs to, field) for every field, fragments expanded."""
    if selection is None:
        return
    for item in selection.selections:
        if isinstance(item, FieldNode):
            yield parent, item
            continue
        if isinstance(item, InlineFragmentNode):
            cond, sub = item.type_condition, item.selection_set
        else:
            assert isinstance(item, FragmentSpreadNode)
            fragment = fragments[item.name.value]
            cond, sub = fragment.type_condition, fragment.selection_set
        inner = schema.get_type(cond.name.value) if cond else parent
        yield from _fields(schema, inner or parent, sub, fragments)


def _node_selections(
    schema: GraphQLSchema,
    connection: Any,
    field: FieldNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> Iterator[tuple[str, str | None, Any, FieldNode]]:
    """For a connection field: ("edges", node key, node type, node field) and ("nodes", None,
    node type, nodes field) for each way its nodes are selected."""
    for parent, item in _fields(schema, connection, field.selection_set, fragments):
        name = item.name.value
        if name == "nodes":
            yield "nodes", None, get_named_type(parent.fields["nodes"].type), item
        elif name == "edges":
            edge = get_named_type(parent.fields["edges"].type)
            for _, inner in _fields(schema, edge, item.selection_set, fragments):
                if inner.name.value == "node":
                    yield _key(item), _key(inner), get_named_type(edge.fields["node"].type), inner


def _field_type(parent: Any, field: FieldNode) -> Any:
    if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        definition = parent.fields.get(field.name.value)
        return definition.type if definition else None
    return None


def check_query(schema: GraphQLSchema, text: str) -> DocumentNode:
    """Parse and validate a bulk query against the served schema and Shopify's bulk rules;
    raise InvalidBulkQuery naming the broken rule."""
    try:
        document = parse(text)
    except GraphQLError as exc:
        raise InvalidBulkQuery(f"Invalid bulk query: {exc.message}") from exc
    problems = validate(schema, document)
    if problems:
        raise InvalidBulkQuery("Invalid bulk query: " + "; ".join(p.message for p in problems))
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation.value != "query":
        raise InvalidBulkQuery("Invalid bulk query: the document must hold exactly one query.")
    if operations[0].variable_definitions:
        raise InvalidBulkQuery("Invalid bulk query: bulk queries cannot take variables.")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    count = 0
    deepest = 0

    def walk(parent: Any, selection: SelectionSetNode | None, depth: int, in_list: bool) -> None:
        nonlocal count, deepest
        for owner, field in _fields(schema, parent, selection, fragments):
            type_ = _field_type(owner, field)
            if type_ is None or field.selection_set is None:
                continue
            if is_connection(type_):
                if in_list:
                    raise InvalidBulkQuery(
                        "Queries that contain a connection field within a list field are not "
                        "currently supported."
                    )
                count += 1
                deepest = max(deepest, depth + 1)
                connection = get_named_type(type_)
                for _, _, node_type, node_field in _node_selections(
                    schema, connection, field, fragments
                ):
                    walk(node_type, node_field.selection_set, depth + 1, False)
            else:
                named = get_named_type(type_)
                if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                    walk(named, field.selection_set, depth, in_list or _is_list(type_))

    root = schema.query_type
    for _, field in _fields(schema, root, operations[0].selection_set, fragments):
        if field.name.value in ("node", "nodes"):
            raise InvalidBulkQuery("The top-level node and nodes fields can't be used.")
    walk(root, operations[0].selection_set, 0, False)
    if count == 0:
        raise InvalidBulkQuery("Bulk queries must contain at least one connection.")
    if count > MAX_CONNECTIONS:
        raise InvalidBulkQuery(
            f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections "
            f"(this one has {count})."
        )
    if deepest > MAX_DEPTH:
        raise InvalidBulkQuery(
            f"Bulk queries cannot contain connections with a nesting depth greater than "
            f"{MAX_DEPTH} (this one nests {deepest} deep)."
        )
    return document


def jsonl_objects(
    schema: GraphQLSchema, document: DocumentNode, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """The result as Shopify's JSONL objects: connection nodes one per line, nested
    connection nodes after their parent with `__parentId`; pageInfo and cursors dropped."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    out: list[dict[str, Any]] = []
    Deferred = list[tuple[Any, FieldNode, Any]]

    def nodes_of(type_: Any, field: FieldNode, value: Any) -> list[tuple[Any, FieldNode, Any]]:
        connection = get_named_type(type_)
        found: list[tuple[Any, FieldNode, Any]] = []
        for edges_key, node_key, node_type, node_field in _node_selections(
            schema, connection, field, fragments
        ):
            if node_key is None:
                items = value.get(_key(node_field)) or []
            else:
                items = [edge.get(node_key) for edge in value.get(edges_key) or []]
            found = [(node_type, node_field, item) for item in items]
            if found:
                break
        return found

    def copy(parent: Any, selection: SelectionSetNode | None, value: Any, later: Deferred) -> Any:
        if value is None or selection is None:
            return value
        if isinstance(value, list):
            return [copy(parent, selection, item, later) for item in value]
        line: dict[str, Any] = {}
        for owner, field in _fields(schema, parent, selection, fragments):
            key = _key(field)
            if key not in value:
                continue
            type_ = _field_type(owner, field)
            if type_ is not None and is_connection(type_):
                if value[key] is not None:
                    later.extend(nodes_of(type_, field, value[key]))
                continue
            if field.selection_set is None or type_ is None:
                line[key] = value[key]
            else:
                line[key] = copy(get_named_type(type_), field.selection_set, value[key], later)
        return line

    def emit(node_type: Any, field: FieldNode, value: Any, parent_id: str | None) -> None:
        later: Deferred = []
        line = copy(node_type, field.selection_set, value, later)
        if line is None:
            return
        if parent_id is not None:
            line["__parentId"] = parent_id
        out.append(line)
        for child_type, child_field, child in later:
            emit(child_type, child_field, child, line.get("id"))

    root = schema.query_type
    for _, field in _fields(schema, root, operation.selection_set, fragments):
        type_ = _field_type(root, field)
        value = data.get(_key(field))
        if value is None or type_ is None:
            continue
        if is_connection(type_):
            for node_type, node_field, item in nodes_of(type_, field, value):
                emit(node_type, node_field, item, None)
        else:
            emit(get_named_type(type_), field, value, None)
    return out


class BulkOperation:
    """One bulk query; its status is a function of the time since it was created, read from
    `clock` (steady seconds; a test passes its own to move time without waiting for it)."""

    typename = "BulkOperation"

    def __init__(
        self,
        num: int,
        created_at: datetime,
        query: str,
        lines: list[str],
        *,
        delay: float,
        base_url: str,
        failure: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.num = num
        self.created_at = created_at
        self.query = query
        self.lines = lines
        self.delay = delay
        self.failure = failure  # an errorCode: the operation ends FAILED
        self.clock = clock
        self.started = clock()
        self.signature = secrets.token_hex(8)
        self.base_url = base_url.rstrip("/")
        self.type = "QUERY"
        self.body = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        self.root_lines = sum(1 for line in lines if '"__parentId"' not in line)

    @property
    def id(self) -> str:
        return f"gid://shopify/BulkOperation/{self.num}"

    def _progress(self) -> float:
        if self.delay <= 0:
            return 1.0
        return min(1.0, (self.clock() - self.started) / self.delay)

    @property
    def status(self) -> str:
        progress = self._progress()
        if progress >= 1.0:
            return "FAILED" if self.failure else "COMPLETED"
        return "CREATED" if progress < 0.25 else "RUNNING"

    @property
    def completed_at(self) -> datetime | None:
        if self.status not in FINISHED:
            return None
        return self.created_at + timedelta(seconds=max(1.0, self.delay))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def error_code(self) -> str | None:
        return self.failure if self.status == "FAILED" else None

    @property
    def object_count(self) -> str:
        done = len(self.lines) if self.status == "COMPLETED" else int(len(self.lines) * 0.5)
        return str(done if self.status != "CREATED" else 0)

    @property
    def root_object_count(self) -> str:
        return str(self.root_lines if self.status == "COMPLETED" else 0)

    @property
    def file_size(self) -> str | None:
        return str(len(self.body)) if self.status == "COMPLETED" and self.lines else None

    @property
    def url(self) -> str | None:
        if self.status != "COMPLETED" or not self.lines:
            return None  # Shopify gives no file when the query matched nothing
        return f"{self.base_url}/_bulk/{self.num}.jsonl?sig={self.signature}"

    @property
    def partial_data_url(self) -> str | None:
        if self.status != "FAILED" or not self.lines:
            return None
        return f"{self.base_url}/_bulk/{self.num}.partial.jsonl?sig={self.signature}"

    def partial_body(self) -> bytes:
        half = self.lines[: len(self.lines) // 2]
        return ("\n".join(half) + "\n").encode("utf-8") if half else b""


def encode_lines(objects: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(obj, separators=(",", ":"), default=str) for obj in objects]
