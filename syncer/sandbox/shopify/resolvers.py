"""How graphql-core reaches the sandbox: the default field resolver, the type resolver, and
the root object whose `gql_<field>` methods are the query and mutation fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from syncer.sandbox.shopify.mutations import Mutations
from syncer.sandbox.shopify.queries import Queries
from syncer.sandbox.shopify.values import camel_to_snake

if TYPE_CHECKING:
    from syncer.sandbox.shopify.app import ShopifySandbox


def resolve_type(value: Any, info: Any, abstract: Any) -> str | None:
    return getattr(value, "typename", None) or None


def resolve_field(source: Any, info: Any, **args: Any) -> Any:
    """`gql_<field>(info, **args)` when the object has one, else the snake_case attribute,
    else the dict key."""
    name = info.field_name
    method = getattr(source, f"gql_{name}", None)
    if method is not None:
        return method(info, **args)
    if isinstance(source, dict):
        return source.get(name)
    return getattr(source, camel_to_snake(name), None)


class Root(Queries, Mutations):
    """Query and mutation root fields over the sandbox state."""

    def __init__(self, app: ShopifySandbox) -> None:
        self.app = app
