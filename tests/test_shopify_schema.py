"""The Shopify documents and the sandbox schema against Shopify's real Admin schema.

Reads ../shared/reference/shopify/admin-2026-10.graphql beside the project root and skips
when it is absent (the file is reference material, not part of the project).
"""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    parse,
    validate,
)

from syncer.connectors import shopify_documents as docs
from syncer.connectors.shopify import LEVELS_PER_ITEM, LINE_ITEMS_FIRST
from syncer.connectors.shopify_cost import MAX_QUERY_COST, estimate_cost, fit_size
from syncer.sandbox.shopify import SCHEMA_PATH, CostCalculator, ShopifySandbox

DOCUMENTS = sorted(docs.ALL_DOCUMENTS.items())


@pytest.fixture(scope="session")
def reference(shopify_reference: GraphQLSchema) -> GraphQLSchema:
    return shopify_reference


@pytest.fixture(scope="session")
def sandbox_schema() -> GraphQLSchema:
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_every_document_is_collected():
    assert len(DOCUMENTS) >= 15
    assert "INVENTORY_SET_QUANTITIES" in docs.ALL_DOCUMENTS


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_document_validates_against_reference(reference, name, document):
    errors = validate(reference, parse(document))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_document_validates_against_sandbox(sandbox_schema, name, document):
    errors = validate(sandbox_schema, parse(document))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


SIZES = {
    "first": 7,
    "lineItemsFirst": LINE_ITEMS_FIRST,
    "levelsFirst": LEVELS_PER_ITEM,
    "variantsFirst": 100,
    "ids": ["gid://shopify/Order/1"] * 3,
}


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_client_cost_estimate_matches_the_sandbox(name, document):
    app = ShopifySandbox()
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if d.kind == "operation_definition")
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}
    root = (
        app.schema.mutation_type
        if operation.operation.value == "mutation"
        else app.schema.query_type
    )
    sandbox_cost = CostCalculator(app.schema, fragments, SIZES).requested(
        root, operation.selection_set
    )
    assert estimate_cost(document, SIZES) == sandbox_cost


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
@pytest.mark.parametrize(("first", "ids"), [(1, 1), (2, 2), (50, 30), (250, 250)])
def test_the_client_parser_costs_every_size_as_the_sandbox_does(name, document, first, ids):
    """The client reads documents with its own small parser (no graphql import at start-up);
    the sandbox's calculator is built on the graphql library: both agree at every size."""
    sizes = {**SIZES, "first": first, "ids": ["gid://shopify/Order/1"] * ids}
    app = ShopifySandbox()
    parsed = parse(document)
    operation = next(d for d in parsed.definitions if d.kind == "operation_definition")
    fragments = {d.name.value: d for d in parsed.definitions if d.kind == "fragment_definition"}
    root = (
        app.schema.mutation_type
        if operation.operation.value == "mutation"
        else app.schema.query_type
    )
    expected = CostCalculator(app.schema, fragments, sizes).requested(root, operation.selection_set)
    assert estimate_cost(document, sizes) == expected


@pytest.mark.parametrize(
    "document",
    [
        "query { shop { name } ",
        "query { shop { name } } garbage",
        'query { a(x: "unterminated) { b } }',
        "query { a(first: ) { b } }",
    ],
)
def test_the_client_parser_refuses_what_it_cannot_read(document):
    with pytest.raises(ValueError, match="GraphQL"):
        estimate_cost(document)


@pytest.mark.parametrize(
    ("document", "size_variable", "variables"),
    [
        pytest.param(docs.ORDERS, "first", {"lineItemsFirst": LINE_ITEMS_FIRST}, id="orders"),
        pytest.param(docs.ORDERS_BY_IDS, "ids", {"lineItemsFirst": LINE_ITEMS_FIRST}, id="by-ids"),
        pytest.param(docs.REFUNDS_BY_IDS, "ids", {}, id="refunds"),
        pytest.param(docs.VARIANTS, "first", {}, id="variants"),
        pytest.param(docs.LOCATION_INVENTORY_LEVELS, "first", {}, id="levels"),
        pytest.param(
            docs.ITEM_INVENTORY_LEVELS, "ids", {"levelsFirst": LEVELS_PER_ITEM}, id="items"
        ),
        pytest.param(docs.FULFILLMENT_ORDERS_BY_ORDER_IDS, "ids", {}, id="fulfillment-orders"),
    ],
)
def test_fitted_page_sizes_stay_under_the_cost_limit(document, size_variable, variables):
    size = fit_size(document, variables, size_variable, 250)
    assert size >= 1
    sample = size if size_variable != "ids" else ["gid://shopify/Order/1"] * size
    over = size + 1 if size_variable != "ids" else ["gid://shopify/Order/1"] * (size + 1)
    assert estimate_cost(document, {**variables, size_variable: sample}) <= MAX_QUERY_COST
    if size < 250:
        assert estimate_cost(document, {**variables, size_variable: over}) > MAX_QUERY_COST


def test_sandbox_sdl_is_a_faithful_subset(reference, sandbox_schema):
    problems: list[str] = []
    for name, sub in sandbox_schema.type_map.items():
        if name.startswith("__"):
            continue
        ref = reference.type_map.get(name)
        if ref is None:
            problems.append(f"type {name} is not in the reference")
            continue
        if type(ref) is not type(sub):
            problems.append(
                f"type {name} is a {type(sub).__name__}, reference {type(ref).__name__}"
            )
            continue
        if isinstance(sub, (GraphQLObjectType, GraphQLInterfaceType)):
            ref_interfaces = {i.name for i in ref.interfaces}
            for interface in sub.interfaces:
                if interface.name not in ref_interfaces:
                    problems.append(f"{name} implements {interface.name}; the reference does not")
            for field_name, field in sub.fields.items():
                ref_field = ref.fields.get(field_name)
                if ref_field is None:
                    problems.append(f"field {name}.{field_name} is not in the reference")
                    continue
                if str(field.type) != str(ref_field.type):
                    problems.append(f"{name}.{field_name}: {field.type} != {ref_field.type}")
                for arg_name, arg in field.args.items():
                    ref_arg = ref_field.args.get(arg_name)
                    if ref_arg is None:
                        problems.append(
                            f"argument {name}.{field_name}({arg_name}) not in reference"
                        )
                    elif str(arg.type) != str(ref_arg.type):
                        problems.append(
                            f"{name}.{field_name}({arg_name}): {arg.type} != {ref_arg.type}"
                        )
                for arg_name, ref_arg in ref_field.args.items():
                    required = str(ref_arg.type).endswith("!") and "=" not in _printed(
                        arg_name, ref_arg
                    )
                    if required and arg_name not in field.args:
                        problems.append(f"{name}.{field_name} lacks required argument {arg_name}")
        elif isinstance(sub, GraphQLInputObjectType):
            for field_name, field in sub.fields.items():
                ref_field = ref.fields.get(field_name)
                if ref_field is None:
                    problems.append(f"input field {name}.{field_name} is not in the reference")
                elif str(field.type) != str(ref_field.type):
                    problems.append(f"{name}.{field_name}: {field.type} != {ref_field.type}")
            for field_name, ref_field in ref.fields.items():
                required = str(ref_field.type).endswith("!") and "=" not in _printed(
                    field_name, ref_field
                )
                if required and field_name not in sub.fields:
                    problems.append(f"input {name} lacks required field {field_name}")
        elif isinstance(sub, GraphQLEnumType):
            for value in sub.values:
                if value not in ref.values:
                    problems.append(f"enum value {name}.{value} is not in the reference")
        elif isinstance(sub, GraphQLUnionType):
            ref_members = {t.name for t in ref.types}
            for member in sub.types:
                if member.name not in ref_members:
                    problems.append(f"union {name} member {member.name} not in the reference")
        else:
            assert isinstance(sub, GraphQLScalarType)
    for directive in sandbox_schema.directives:
        ref_directive = reference.get_directive(directive.name)
        if ref_directive is None:
            problems.append(f"directive @{directive.name} is not in the reference")
            continue
        for arg_name, arg in directive.args.items():
            ref_arg = ref_directive.args.get(arg_name)
            if ref_arg is None or str(ref_arg.type) != str(arg.type):
                problems.append(f"@{directive.name}({arg_name}) differs from the reference")
        if set(directive.locations) - set(ref_directive.locations):
            problems.append(f"@{directive.name} is allowed where the reference does not allow it")
    assert problems == []


def test_printed_defaults_match_the_reference(reference, sandbox_schema):
    """Argument defaults (sortKey, reverse, ...) are part of the contract too."""
    mismatches = []
    for name, sub in sandbox_schema.type_map.items():
        if not isinstance(sub, (GraphQLObjectType, GraphQLInterfaceType)) or name.startswith("__"):
            continue
        for field_name, field in sub.fields.items():
            for arg_name, arg in field.args.items():
                ref_arg = reference.type_map[name].fields[field_name].args[arg_name]
                if _printed(arg_name, arg) != _printed(arg_name, ref_arg):
                    mismatches.append(f"{name}.{field_name}({arg_name})")
    assert mismatches == []


def test_idempotent_directive_is_declared(sandbox_schema):
    directive = sandbox_schema.get_directive("idempotent")
    assert directive is not None
    assert str(directive.args["key"].type) == "String!"


def _printed(name: str, value) -> str:
    import sys

    printer = sys.modules["graphql.utilities.print_schema"]
    return printer.print_input_value(name, value)


OPTIONAL_CASES = [
    (name, field)
    for name, document in DOCUMENTS
    for field in docs.OPTIONAL_FIELDS
    if field in document
]


@pytest.mark.parametrize(
    ("name", "field"), OPTIONAL_CASES, ids=[f"{n}-{f}" for n, f in OPTIONAL_CASES]
)
def test_a_document_without_an_optional_field_is_still_valid(reference, name, field):
    """What the client sends to a shop whose API lacks an optional field."""
    stripped = docs.without_fields(docs.ALL_DOCUMENTS[name], {field})
    assert field not in stripped
    errors = validate(reference, parse(stripped))
    assert errors == [], f"{name} without {field}: {[e.message for e in errors]}"


def test_every_optional_field_is_in_some_document():
    used = {field for _, field in OPTIONAL_CASES}
    assert used == set(docs.OPTIONAL_FIELDS)


def test_all_optional_fields_at_once_leave_valid_documents(reference):
    for name, document in DOCUMENTS:
        stripped = docs.without_fields(document, set(docs.OPTIONAL_FIELDS))
        errors = validate(reference, parse(stripped))
        assert errors == [], f"{name}: {[e.message for e in errors]}"
