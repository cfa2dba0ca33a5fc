"""One location resolver for `check` and `sync inventory`: gid, exact name, then the name
ignoring case when it is unambiguous."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import SECRETS_ENV, minimal_config

from syncer.check import location_checks
from syncer.config import parse_config
from syncer.inventory.job import resolve_locations
from syncer.locations import find_location

MAIN = {"id": "gid://shopify/Location/1", "name": "Main warehouse", "isActive": True}
POP = {"id": "gid://shopify/Location/2", "name": "Pop-up", "isActive": True}
POP_UPPER = {"id": "gid://shopify/Location/3", "name": "POP-UP", "isActive": True}
LOCATIONS = [MAIN, POP, POP_UPPER]


@pytest.mark.parametrize(
    ("wanted", "found", "reason"),
    [
        pytest.param("gid://shopify/Location/1", MAIN, None, id="gid"),
        pytest.param("Main warehouse", MAIN, None, id="exact"),
        pytest.param("main warehouse", MAIN, None, id="case-ignored"),
        pytest.param("Pop-up", POP, None, id="exact-wins-over-folded"),
        pytest.param("pop-up", None, "2 Shopify locations are named 'pop-up'", id="ambiguous"),
        pytest.param("Back room", None, "Shopify has no location 'Back room'", id="missing"),
    ],
)
def test_find_location(wanted: str, found: dict[str, Any] | None, reason: str | None) -> None:
    assert find_location(wanted, LOCATIONS) == (found, reason)


def test_check_and_sync_agree_on_a_name_in_other_case() -> None:
    """`main warehouse` against Shopify's `Main warehouse`: both accept it, same gid."""
    data = minimal_config()
    data["inventory"] = {"locations": {"MAIN": "main warehouse"}}
    config = parse_config(data, env=SECRETS_ENV)
    warehouses = [{"WarehouseCode": "MAIN", "WarehouseName": "Main", "Obsolete": False}]

    [(verdict, key, text)] = location_checks(config, warehouses, LOCATIONS)

    assert (verdict, key) == ("ok", "inventory.locations.MAIN"), text
    assert "gid://shopify/Location/1" in text
    assert resolve_locations(config.inventory.locations, LOCATIONS) == {
        "MAIN": "gid://shopify/Location/1"
    }
