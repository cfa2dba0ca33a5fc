"""The schema the sandbox serves: the SDL subset in `shopify_schema.graphql`, plus enum
values added at runtime, with Shopify's scalar formats (money at two places, UTC times)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from graphql import GraphQLScalarType, GraphQLSchema, build_schema, extend_schema
from graphql.language import parse as parse_document

from syncer.sandbox.shopify.values import iso, money

SCHEMA_PATH = Path(__file__).parent.parent / "shopify_schema.graphql"

# The derived reference SDL predates the 2026-04 error codes of inventorySetQuantities that
# Shopify's changelog documents. The served SDL stays a strict subset;
# these values are added at runtime only, so the executor can report them.
RUNTIME_EXTENSIONS = """
extend enum InventorySetQuantitiesUserErrorCode {
  CHANGE_FROM_QUANTITY_STALE
  IDEMPOTENCY_CONCURRENT_REQUEST
  IDEMPOTENCY_KEY_PARAMETER_MISMATCH
  IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED
}

extend enum BulkOperationUserErrorCode {
  LIMIT_REACHED
}
"""
# LIMIT_REACHED: 2026-01+ allows five concurrent bulk queries and reports the sixth with this
# code; the derived reference enum predates it.


_SCHEMA: GraphQLSchema | None = None


def served_schema() -> GraphQLSchema:
    """The schema the sandbox executes: the SDL subset plus runtime enum values, built once."""
    global _SCHEMA
    if _SCHEMA is None:
        base = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
        schema = extend_schema(base, parse_document(RUNTIME_EXTENSIONS))

        def serialize_datetime(value: Any) -> str:
            return iso(value) if isinstance(value, datetime) else str(value)

        def serialize_decimal(value: Any) -> str:
            return str(money(value)) if isinstance(value, Decimal) else str(value)

        for name, fn in (
            ("DateTime", serialize_datetime),
            ("Decimal", serialize_decimal),
            ("Money", serialize_decimal),
            ("UnsignedInt64", str),
            ("URL", str),
            ("HTML", str),
        ):
            scalar = schema.get_type(name)
            if isinstance(scalar, GraphQLScalarType):
                # graphql-core 3.2 calls `serialize`, 3.3 `coerce_output_value`.
                for hook in ("serialize", "coerce_output_value"):
                    if hasattr(scalar, hook):
                        setattr(scalar, hook, fn)
        _SCHEMA = schema
    return _SCHEMA
