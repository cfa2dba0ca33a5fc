"""The orders options for real shops: lines without a SKU, the amounts' currency, and
Unleashed's base currency (parsed, defaulted and refused with the key path)."""

from __future__ import annotations

from typing import Any

import pytest

from syncer.config import parse_config
from syncer.errors import ConfigError
from tests.conftest import SECRETS_ENV, minimal_config


def test_defaults_keep_todays_behaviour() -> None:
    config = parse_config(minimal_config(), SECRETS_ENV)
    assert config.orders.lines_without_sku == "hold"
    assert config.orders.currency == "shop"
    assert config.unleashed.base_currency is None


def test_values_are_read() -> None:
    data = minimal_config()
    data["orders"] = {"lines_without_sku": "charge", "currency": "presentment"}
    data["unleashed"]["base_currency"] = "NZD"
    config = parse_config(data, SECRETS_ENV)
    assert config.orders.lines_without_sku == "charge"
    assert config.orders.currency == "presentment"
    assert config.unleashed.base_currency == "NZD"


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("orders", "lines_without_sku", "skip", "must be one of hold, charge, got 'skip'"),
        ("orders", "currency", "customer", "must be one of shop, presentment, got 'customer'"),
        ("unleashed", "base_currency", "NZDX", "'NZDX' is not a currency code"),
    ],
)
def test_bad_values_name_the_key(section: str, key: str, value: Any, message: str) -> None:
    data = minimal_config()
    data.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data, SECRETS_ENV)
    problems = {(p.path, p.reason) for p in caught.value.problems}
    assert (f"{section}.{key}", message) in problems
