"""Config validation: every key's bad value names its path and reason, all
problems are reported at once, and defaults, env expansion and relative paths hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncer.config import (
    FIELDS,
    SECRET_KEYS,
    AlertsConfig,
    Config,
    load_config,
    merge,
    parse_config,
)
from syncer.errors import ConfigError, Problem, UsageError

REPO_ROOT = Path(__file__).resolve().parent.parent
DELETE = object()
KEYS = st.sampled_from(["a", "b", "c", "d"])
LEAVES = st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)


def nested(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(KEYS, children, max_size=4)


def change(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Set (or with DELETE remove) the key at a dotted path, creating sections on the way."""
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return data


def problems_for(data: dict[str, Any], env: dict[str, str]) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env=env)
    return caught.value.problems


def parse(data: dict[str, Any], env: dict[str, str]) -> Config:
    return parse_config(data, env=env, source=None)


BAD_VALUES = [
    # shopify
    pytest.param(
        {"shopify.shop": "not a shop!"},
        "shopify.shop",
        "'not a shop!' is not a shop domain",
        id="shopify.shop-bad-domain",
    ),
    pytest.param(
        {"shopify.shop": DELETE}, "shopify.shop", "is required", id="shopify.shop-missing"
    ),
    pytest.param(
        {"shopify.access_token": DELETE},
        "shopify.access_token",
        "is required (or client_id and client_secret)",
        id="shopify.access_token-missing",
    ),
    pytest.param(
        {"shopify.access_token": ["x"]},
        "shopify.access_token",
        "must be a string, got a list",
        id="shopify.access_token-list",
    ),
    pytest.param(
        {"shopify.client_id": "abc"},
        "shopify.client_secret",
        "client_id and client_secret go together",
        id="shopify.client_id-without-secret",
    ),
    pytest.param(
        {"shopify.client_secret": "${SHOPIFY_ACCESS_TOKEN}"},
        "shopify.client_id",
        "client_id and client_secret go together",
        id="shopify.client_secret-without-id",
    ),
    pytest.param(
        {"shopify.api_version": "2026-11"},
        "shopify.api_version",
        "'2026-11' is not a Shopify API version",
        id="shopify.api_version-not-quarterly",
    ),
    pytest.param(
        {"shopify": "shop"}, "shopify", "must be a mapping, got a string", id="shopify-str"
    ),
    # unleashed
    pytest.param(
        {"unleashed.base_url": "ftp://example.com"},
        "unleashed.base_url",
        "'ftp://example.com' is not a URL",
        id="unleashed.base_url-not-http",
    ),
    pytest.param(
        {"unleashed.api_id": DELETE},
        "unleashed.api_id",
        "is required",
        id="unleashed.api_id-missing",
    ),
    pytest.param(
        {"unleashed.api_key": ""},
        "unleashed.api_key",
        "must not be empty",
        id="unleashed.api_key-empty",
    ),
    pytest.param(
        {"unleashed.client_type": {"a": 1}},
        "unleashed.client_type",
        "must be a string, got a mapping",
        id="unleashed.client_type-mapping",
    ),
    # master
    pytest.param(
        {"master": "both"}, "master", "must be one of unleashed, shopify, got 'both'", id="master"
    ),
    # orders
    pytest.param(
        {"orders.enabled": "yes"},
        "orders.enabled",
        "must be true or false, got 'yes'",
        id="orders.enabled",
    ),
    pytest.param(
        {"orders.financial_statuses": ["paid", "shipped"]},
        "orders.financial_statuses",
        "unknown value(s) shipped",
        id="orders.financial_statuses-unknown",
    ),
    pytest.param(
        {"orders.financial_statuses": []},
        "orders.financial_statuses",
        "must not be empty",
        id="orders.financial_statuses-empty",
    ),
    pytest.param(
        {"orders.financial_statuses": "paid"},
        "orders.financial_statuses",
        "must be a list of strings, got 'paid'",
        id="orders.financial_statuses-string",
    ),
    pytest.param(
        {"orders.start": "yesterday"},
        "orders.start",
        "'yesterday' is not an ISO-8601 time",
        id="orders.start",
    ),
    pytest.param(
        {"orders.include_test_orders": 1},
        "orders.include_test_orders",
        "must be true or false, got 1",
        id="orders.include_test_orders",
    ),
    pytest.param(
        {"orders.order_number_prefix": "SHOPIFY-NZ-"},
        "orders.order_number_prefix",
        "must be at most 10 characters, got 11",
        id="orders.order_number_prefix-too-long",
    ),
    pytest.param(
        {"orders.order_status": "Completed"},
        "orders.order_status",
        "must be one of Parked, Placed, got 'Completed'",
        id="orders.order_status",
    ),
    pytest.param(
        {"orders.warehouse": "W" * 16},
        "orders.warehouse",
        "must be at most 15 characters, got 16",
        id="orders.warehouse-too-long",
    ),
    pytest.param(
        {"orders.tax_code": ["G.S.T."]},
        "orders.tax_code",
        "must be a string, got a list",
        id="orders.tax_code",
    ),
    pytest.param(
        {"orders.customer.mode": "everyone"},
        "orders.customer.mode",
        "must be one of per_email, single, got 'everyone'",
        id="orders.customer.mode",
    ),
    pytest.param(
        {"orders.customer.code": True},
        "orders.customer.code",
        "must be a string, got bool",
        id="orders.customer.code",
    ),
    pytest.param(
        {"orders.shipping.mode": "free"},
        "orders.shipping.mode",
        "must be one of charge, product, got 'free'",
        id="orders.shipping.mode",
    ),
    pytest.param(
        {"orders.shipping.product_code": [1]},
        "orders.shipping.product_code",
        "must be a string, got a list",
        id="orders.shipping.product_code",
    ),
    pytest.param(
        {"orders.refunds": "ignore"},
        "orders.refunds",
        "must be one of report, credit_note, got 'ignore'",
        id="orders.refunds",
    ),
    pytest.param(
        {"orders.customer": ["per_email"]},
        "orders.customer",
        "must be a mapping, got a list",
        id="orders.customer-list",
    ),
    # products
    pytest.param(
        {"products.enabled": "no"},
        "products.enabled",
        "must be true or false, got 'no'",
        id="products.enabled",
    ),
    pytest.param(
        {"products.fields": ["title", "colour"]},
        "products.fields",
        "unknown value(s) colour",
        id="products.fields-unknown",
    ),
    pytest.param(
        {"products.fields": []}, "products.fields", "must not be empty", id="products.fields-empty"
    ),
    pytest.param(
        {"products.price_tier": 0},
        "products.price_tier",
        "must be default or 1..10, got 0",
        id="products.price_tier-0",
    ),
    pytest.param(
        {"products.price_tier": 11},
        "products.price_tier",
        "must be default or 1..10, got 11",
        id="products.price_tier-11",
    ),
    pytest.param(
        {"products.price_tier": "tier1"},
        "products.price_tier",
        "must be default or 1..10, got 'tier1'",
        id="products.price_tier-word",
    ),
    pytest.param(
        {"products.price_tier": True},
        "products.price_tier",
        "must be default or 1..10, got True",
        id="products.price_tier-bool",
    ),
    pytest.param(
        {"products.tax_rate": 1},
        "products.tax_rate",
        "must be a fraction from 0 to below 1, got 1",
        id="products.tax_rate-1",
    ),
    pytest.param(
        {"products.tax_rate": -0.05},
        "products.tax_rate",
        "must be a fraction from 0 to below 1, got -0.05",
        id="products.tax_rate-negative",
    ),
    pytest.param(
        {"products.tax_rate": 15},
        "products.tax_rate",
        "must be a fraction from 0 to below 1, got 15",
        id="products.tax_rate-percent",
    ),
    pytest.param(
        {"products.tax_rate": "GST"},
        "products.tax_rate",
        "must be a number, got 'GST'",
        id="products.tax_rate-word",
    ),
    pytest.param(
        {"products.tax_rate": float("nan")},
        "products.tax_rate",
        "must be a fraction from 0 to below 1, got nan",
        id="products.tax_rate-nan",
    ),
    pytest.param(
        {"products.create_missing": "true"},
        "products.create_missing",
        "must be true or false, got 'true'",
        id="products.create_missing",
    ),
    pytest.param(
        {"products.max_changes": 0},
        "products.max_changes",
        "must be at least 1, got 0",
        id="products.max_changes-0",
    ),
    pytest.param(
        {"products.max_changes": "many"},
        "products.max_changes",
        "must be a whole number, got 'many'",
        id="products.max_changes-word",
    ),
    # inventory
    pytest.param(
        {"inventory.enabled": 0},
        "inventory.enabled",
        "must be true or false, got 0",
        id="inventory.enabled",
    ),
    pytest.param(
        {"inventory.buffer": -1},
        "inventory.buffer",
        "must be at least 0, got -1",
        id="inventory.buffer-negative",
    ),
    pytest.param(
        {"inventory.buffer": 1.5},
        "inventory.buffer",
        "must be a whole number, got 1.5",
        id="inventory.buffer-fraction",
    ),
    pytest.param(
        {"inventory.unallocated_statuses": "Parked"},
        "inventory.unallocated_statuses",
        "must be a list of strings, got 'Parked'",
        id="inventory.unallocated_statuses",
    ),
    pytest.param(
        {"inventory.locations": DELETE},
        "inventory.locations",
        "is required when inventory is enabled",
        id="inventory.locations-missing",
    ),
    pytest.param(
        {"inventory.locations": {}},
        "inventory.locations",
        "must map at least one warehouse",
        id="inventory.locations-empty",
    ),
    pytest.param(
        {"inventory.locations": ["MAIN"]},
        "inventory.locations",
        "must be a mapping of warehouse code to location, got a list",
        id="inventory.locations-list",
    ),
    pytest.param(
        {"inventory.locations": {"MAIN": " "}},
        "inventory.locations.MAIN",
        "must be a Shopify location name or gid",
        id="inventory.locations.CODE-blank",
    ),
    pytest.param(
        {"inventory.max_changes": -3},
        "inventory.max_changes",
        "must be at least 1, got -3",
        id="inventory.max_changes",
    ),
    # fulfillments
    pytest.param(
        {"fulfillments.enabled": "on"},
        "fulfillments.enabled",
        "must be true or false, got 'on'",
        id="fulfillments.enabled",
    ),
    pytest.param(
        {"fulfillments.notify_customer": None, "fulfillments.notify": True},
        "fulfillments.notify",
        "unknown key",
        id="fulfillments.notify-unknown",
    ),
    # schedule
    pytest.param(
        {"schedule.orders": "5 minutes"},
        "schedule.orders",
        "'5 minutes' is not an interval",
        id="schedule.orders-words",
    ),
    pytest.param(
        {"schedule.products": "0m"},
        "schedule.products",
        "'0m' is not an interval",
        id="schedule.products-zero",
    ),
    pytest.param(
        {"schedule.inventory": "1w"},
        "schedule.inventory",
        "'1w' is not an interval",
        id="schedule.inventory-weeks",
    ),
    pytest.param(
        {"schedule.fulfillments": -5},
        "schedule.fulfillments",
        "-5 is not an interval",
        id="schedule.fulfillments-negative",
    ),
    # state
    pytest.param(
        {"state.path": ["a.db"]},
        "state.path",
        "must be a string, got a list",
        id="state.path-list",
    ),
]


@pytest.mark.parametrize(("changes", "path", "reason"), BAD_VALUES)
def test_bad_value_names_its_path_and_reason(
    config_data: dict[str, Any],
    secrets_env: dict[str, str],
    changes: dict[str, Any],
    path: str,
    reason: str,
) -> None:
    for dotted, value in changes.items():
        change(config_data, dotted, value)
    problems = problems_for(config_data, secrets_env)
    assert (problems[0].path, problems[0].reason) == (path, reason)
    # Nothing unrelated is reported (a broken section may add a follow-on under itself).
    assert all(p.path.startswith(path) for p in problems), problems


@pytest.mark.parametrize(
    ("dotted", "path", "fix"),
    [
        pytest.param("mastr", "mastr", "did you mean 'master'?", id="top-level"),
        pytest.param(
            "shopify.acess_token",
            "shopify.acess_token",
            "did you mean 'access_token'?",
            id="shopify",
        ),
        pytest.param(
            "orders.customer.mdoe", "orders.customer.mdoe", "did you mean 'mode'?", id="nested"
        ),
        pytest.param(
            "schedule.inventroy", "schedule.inventroy", "did you mean 'inventory'?", id="schedule"
        ),
        pytest.param(
            "state.zzz",
            "state.zzz",
            "known keys: path",
            id="no-close-match",
        ),
    ],
)
def test_unknown_key_is_an_error_with_a_hint(
    config_data: dict[str, Any], secrets_env: dict[str, str], dotted: str, path: str, fix: str
) -> None:
    change(config_data, dotted, "x")
    problems = problems_for(config_data, secrets_env)
    assert problems == [Problem(path, "unknown key", fix)]


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param("SHOPIFY_ACCESS_TOKEN", id="shopify-token"),
        pytest.param("UNLEASHED_API_ID", id="unleashed-id"),
        pytest.param("UNLEASHED_API_KEY", id="unleashed-key"),
    ],
)
def test_missing_environment_variable_is_reported_once(
    config_data: dict[str, Any], missing: str
) -> None:
    from conftest import SECRETS_ENV

    env = {k: v for k, v in SECRETS_ENV.items() if k != missing}
    problems = problems_for(config_data, env)
    assert len(problems) == 1
    assert problems[0].reason == f"environment variable {missing} is not set"
    assert problems[0].fix == f"export {missing}=..."
    expected_path = {
        "SHOPIFY_ACCESS_TOKEN": "shopify.access_token",
        "UNLEASHED_API_ID": "unleashed.api_id",
        "UNLEASHED_API_KEY": "unleashed.api_key",
    }[missing]
    assert problems[0].path == expected_path


def test_empty_environment_variable_counts_as_missing(config_data: dict[str, Any]) -> None:
    from conftest import SECRETS_ENV

    env = {**SECRETS_ENV, "UNLEASHED_API_KEY": ""}
    problems = problems_for(config_data, env)
    assert [(p.path, p.reason) for p in problems] == [
        ("unleashed.api_key", "environment variable UNLEASHED_API_KEY is not set")
    ]


def test_env_values_are_expanded_inside_strings(
    config_data: dict[str, Any], secrets_env: dict[str, str]
) -> None:
    change(config_data, "unleashed.client_type", "acme/${UNLEASHED_API_ID}")
    config = parse(config_data, secrets_env)
    assert config.shopify.access_token == secrets_env["SHOPIFY_ACCESS_TOKEN"]
    assert config.unleashed.api_key == secrets_env["UNLEASHED_API_KEY"]
    assert config.unleashed.client_type == f"acme/{secrets_env['UNLEASHED_API_ID']}"
    assert config.clear_secrets == ()


def test_secrets_in_clear_are_recorded(config_data: dict[str, Any]) -> None:
    change(config_data, "shopify.access_token", "shpat_in_clear")
    change(config_data, "unleashed.api_key", "key-in-clear")
    change(config_data, "unleashed.api_id", "id-in-clear")
    config = parse(config_data, {})
    assert config.clear_secrets == ("shopify.access_token", "unleashed.api_key")
    assert set(config.secrets()) == {"shpat_in_clear", "key-in-clear", "id-in-clear"}


def test_client_credentials_instead_of_token(config_data: dict[str, Any]) -> None:
    change(config_data, "shopify.access_token", DELETE)
    change(config_data, "shopify.client_id", "client-1")
    change(config_data, "shopify.client_secret", "secret-in-clear")
    config = parse(config_data, {"UNLEASHED_API_ID": "i", "UNLEASHED_API_KEY": "k"})
    assert config.shopify.access_token is None
    assert (config.shopify.client_id, config.shopify.client_secret) == (
        "client-1",
        "secret-in-clear",
    )
    assert config.clear_secrets == ("shopify.client_secret",)


def test_defaults(config_data: dict[str, Any], secrets_env: dict[str, str]) -> None:
    config = parse(config_data, secrets_env)
    assert config.master == "unleashed"
    assert config.shopify.api_version == "2026-10"
    assert config.shopify.base_url == "https://example-store.myshopify.com"
    assert config.unleashed.base_url == "https://api.unleashedsoftware.com"
    assert config.unleashed.client_type == "syncer/syncer"
    orders = config.orders
    assert orders.enabled is True
    assert orders.financial_statuses == ("paid",)
    assert orders.start is None
    assert orders.include_test_orders is False
    assert orders.order_number_prefix == "SH-"
    assert (orders.order_status, orders.warehouse, orders.tax_code) == ("Parked", "MAIN", "G.S.T.")
    assert (orders.customer.mode, orders.customer.code) == ("per_email", "SHOPIFY")
    assert (orders.shipping.mode, orders.shipping.product_code) == ("charge", "SHIPPING")
    assert orders.refunds == "report"
    products = config.products
    assert products.fields == FIELDS
    assert products.price_tier == "default"
    assert products.tax_rate == Decimal("0.15")
    assert isinstance(products.tax_rate, Decimal)
    assert (products.create_missing, products.max_changes) == (True, 500)
    inventory = config.inventory
    assert (inventory.enabled, inventory.buffer, inventory.max_changes) == (True, 0, 5000)
    assert inventory.unallocated_statuses == ("Parked",)
    assert dict(inventory.locations) == {"MAIN": "Main warehouse"}
    assert (config.fulfillments.enabled, config.fulfillments.notify_customer) == (False, False)
    schedule = config.schedule
    assert (schedule.orders, schedule.products, schedule.inventory, schedule.fulfillments) == (
        300,
        3600,
        900,
        900,
    )
    assert config.state.path == Path.cwd() / "syncer.db"


def test_sandbox_url_as_shop_is_kept(
    config_data: dict[str, Any], secrets_env: dict[str, str]
) -> None:
    change(config_data, "shopify.shop", "http://127.0.0.1:8701/")
    assert parse(config_data, secrets_env).shopify.base_url == "http://127.0.0.1:8701"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("30s", 30, id="seconds"),
        pytest.param("5m", 300, id="minutes"),
        pytest.param("1h", 3600, id="hours"),
        pytest.param("2d", 172800, id="days"),
        pytest.param(" 15 m ", 900, id="spaces"),
        pytest.param(10, 600, id="bare-number-is-minutes"),
    ],
)
def test_interval_parsing(
    config_data: dict[str, Any], secrets_env: dict[str, str], value: Any, seconds: int
) -> None:
    change(config_data, "schedule.orders", value)
    assert parse(config_data, secrets_env).schedule.orders == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("5", id="no-unit"),
        pytest.param("m5", id="unit-first"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("0s", id="zero"),
        pytest.param("5M", id="upper-case-unit"),
        pytest.param(True, id="bool"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_intervals(
    config_data: dict[str, Any], secrets_env: dict[str, str], value: Any
) -> None:
    change(config_data, "schedule.orders", value)
    problems = problems_for(config_data, secrets_env)
    assert [(p.path, p.reason) for p in problems] == [
        ("schedule.orders", f"{value!r} is not an interval")
    ]


def test_financial_statuses_are_case_insensitive(
    config_data: dict[str, Any], secrets_env: dict[str, str]
) -> None:
    change(config_data, "orders.financial_statuses", ["PAID", "Partially_Refunded"])
    assert parse(config_data, secrets_env).orders.financial_statuses == (
        "paid",
        "partially_refunded",
    )


@pytest.mark.parametrize("tier", [pytest.param(n, id=f"tier-{n}") for n in (1, 5, 10)])
def test_price_tier_accepts_one_to_ten(
    config_data: dict[str, Any], secrets_env: dict[str, str], tier: int
) -> None:
    change(config_data, "products.price_tier", tier)
    assert parse(config_data, secrets_env).products.price_tier == tier


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(0, Decimal("0"), id="zero"),
        pytest.param(0.15, Decimal("0.15"), id="float-kept-exact"),
        pytest.param("0.125", Decimal("0.125"), id="string"),
        pytest.param(0.999, Decimal("0.999"), id="just-below-one"),
    ],
)
def test_tax_rate_bounds(
    config_data: dict[str, Any], secrets_env: dict[str, str], value: Any, expected: Decimal
) -> None:
    change(config_data, "products.tax_rate", value)
    assert parse(config_data, secrets_env).products.tax_rate == expected


def test_locations_optional_when_inventory_disabled(
    config_data: dict[str, Any], secrets_env: dict[str, str]
) -> None:
    config_data["inventory"] = {"enabled": False}
    config = parse(config_data, secrets_env)
    assert config.inventory.enabled is False
    assert dict(config.inventory.locations) == {}


def test_orders_start_is_utc(config_data: dict[str, Any], secrets_env: dict[str, str]) -> None:
    change(config_data, "orders.start", "2026-01-01T12:00:00+13:00")
    assert parse(config_data, secrets_env).orders.start == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    change(config_data, "orders.start", "2026-01-01")
    assert parse(config_data, secrets_env).orders.start == datetime(2026, 1, 1, tzinfo=UTC)


def test_state_path_is_relative_to_the_config_folder(
    tmp_path: Path,
    write_config: Callable[..., Path],
    secrets_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = {**_minimal(), "state": {"path": "data/state.db"}}
    path = write_config(data, name="etc/syncer/config.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path, env=secrets_env)
    assert config.state.path == tmp_path / "etc" / "syncer" / "data" / "state.db"
    assert config.source == path


def test_absolute_state_path_is_kept(
    tmp_path: Path, write_config: Callable[..., Path], secrets_env: dict[str, str]
) -> None:
    target = tmp_path / "abs" / "x.db"
    path = write_config({**_minimal(), "state": {"path": str(target)}})
    assert load_config(path, env=secrets_env).state.path == target


def test_three_mistakes_make_one_error_naming_all(
    write_config: Callable[..., Path], secrets_env: dict[str, str]
) -> None:
    path = write_config(three_mistakes())
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=secrets_env)
    message = str(caught.value)
    assert [p.path for p in caught.value.problems] == [
        "master",
        "products.price_tier",
        "schedule.orders",
    ]
    assert message.splitlines()[0] == f"configuration error in {path}:"
    for key_path in ("master", "products.price_tier", "schedule.orders"):
        assert f"  - {key_path}: " in message
    assert caught.value.exit_code == 2


def three_mistakes() -> dict[str, Any]:
    data = _minimal()
    data["master"] = "nobody"
    data["products"] = {"price_tier": 12}
    data["schedule"] = {"orders": "often"}
    return data


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("shopify: [unclosed\n", "is not valid YAML at line 2, column 1", id="syntax"),
        pytest.param("", None, id="empty-file"),
        pytest.param("- a\n- b\n", "must be a mapping, got a list", id="top-level-list"),
    ],
)
def test_unreadable_documents(
    tmp_path: Path, secrets_env: dict[str, str], text: str, reason: str | None
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=secrets_env)
    reasons = [p.reason for p in caught.value.problems]
    if reason is None:
        assert "the file is empty" in reasons
    else:
        assert reasons[0] == reason


def test_missing_file_says_syncer_init(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems[0].path == str(path)
    assert "config file not found" in str(caught.value)
    assert "`syncer init`" in str(caught.value)


def test_example_config_is_valid_and_identical_to_packaged_copy(tmp_path: Path) -> None:
    root = REPO_ROOT / "config.example.yaml"
    packaged = REPO_ROOT / "syncer" / "config.example.yaml"
    assert root.read_bytes() == packaged.read_bytes()
    from conftest import SECRETS_ENV

    config = load_config(packaged, env=SECRETS_ENV)
    assert config.clear_secrets == ()
    assert config.orders.start == datetime(2026, 1, 1, tzinfo=UTC)


def _minimal() -> dict[str, Any]:
    from conftest import minimal_config

    return minimal_config()


# -- keys added with several shops, alerts and currencies ----------------------------------------

NEW_BAD_VALUES = [
    pytest.param(
        {"orders.warehouse_by_location": "yes"},
        Problem("orders.warehouse_by_location", "must be true or false, got 'yes'"),
        id="orders.warehouse_by_location",
    ),
    pytest.param(
        {"orders.lines_without_sku": "skip"},
        Problem("orders.lines_without_sku", "must be one of hold, charge, got 'skip'"),
        id="orders.lines_without_sku",
    ),
    pytest.param(
        {"orders.currency": "USD"},
        Problem("orders.currency", "must be one of shop, presentment, got 'USD'"),
        id="orders.currency",
    ),
    pytest.param(
        {"products.groups": "Tees"},
        Problem("products.groups", "must be a list of strings, got 'Tees'", "e.g. [a, b]"),
        id="products.groups-string",
    ),
    pytest.param(
        {"products.groups": []},
        Problem("products.groups", "must not be empty"),
        id="products.groups-empty",
    ),
    pytest.param(
        {"inventory.assemblies": 1},
        Problem("inventory.assemblies", "must be true or false, got 1"),
        id="inventory.assemblies",
    ),
    pytest.param(
        {"unleashed.base_currency": "NZDX"},
        Problem(
            "unleashed.base_currency",
            "'NZDX' is not a currency code",
            "use a three-letter ISO 4217 code such as NZD",
        ),
        id="unleashed.base_currency-four-letters",
    ),
    pytest.param(
        {"unleashed.base_currency": "N2D"},
        Problem(
            "unleashed.base_currency",
            "'N2D' is not a currency code",
            "use a three-letter ISO 4217 code such as NZD",
        ),
        id="unleashed.base_currency-digit",
    ),
    pytest.param(
        {"schedule.full_inventory": "25:00"},
        Problem(
            "schedule.full_inventory",
            "must be a time HH:MM, got '25:00'",
            'write it in quotes, e.g. "03:30", or null for never',
        ),
        id="schedule.full_inventory-hour-25",
    ),
    pytest.param(
        {"schedule.full_inventory": 1440},
        Problem(
            "schedule.full_inventory",
            "must be a time HH:MM, got 1440",
            'write it in quotes, e.g. "03:30", or null for never',
        ),
        id="schedule.full_inventory-unquoted-24:00",
    ),
    pytest.param(
        {"schedule.full_inventory": "3.30am"},
        Problem(
            "schedule.full_inventory",
            "must be a time HH:MM, got '3.30am'",
            'write it in quotes, e.g. "03:30", or null for never',
        ),
        id="schedule.full_inventory-words",
    ),
    pytest.param(
        {"alerts": "slack"},
        Problem("alerts", "must be a mapping, got a string", "indent its keys under it"),
        id="alerts-string",
    ),
    pytest.param(
        {"alerts.webhook_url": "hooks.slack.com/x"},
        Problem("alerts.webhook_url", "'hooks.slack.com/x' is not a URL", "use https://..."),
        id="alerts.webhook_url-no-scheme",
    ),
    pytest.param(
        {"alerts.ping_url": 42},
        Problem("alerts.ping_url", "'42' is not a URL", "use https://..."),
        id="alerts.ping_url-number",
    ),
    pytest.param(
        {"alerts.on": ["failed", "late"]},
        Problem("alerts.on", "unknown value(s) late", "use failed, held, error"),
        id="alerts.on-unknown",
    ),
    pytest.param(
        {"alerts.max_age": "soon"},
        Problem(
            "alerts.max_age",
            "'soon' is not an interval",
            "use a number with s, m, h or d, e.g. 15m",
        ),
        id="alerts.max_age-words",
    ),
    pytest.param(
        {"alerts.max_ages": "2h"},
        Problem("alerts.max_ages", "unknown key", "did you mean 'max_age'?"),
        id="alerts.max_ages-typo",
    ),
    pytest.param(
        {"alerts.webhook_url": "${SYNCER_ALERT_WEBHOOK}"},
        Problem(
            "alerts.webhook_url",
            "environment variable SYNCER_ALERT_WEBHOOK is not set",
            "export SYNCER_ALERT_WEBHOOK=...",
        ),
        id="alerts.webhook_url-env-unset",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), NEW_BAD_VALUES)
def test_new_key_bad_value_is_one_exact_problem(
    config_data: dict[str, Any],
    secrets_env: dict[str, str],
    changes: dict[str, Any],
    expected: Problem,
) -> None:
    for dotted, value in changes.items():
        change(config_data, dotted, value)
    assert problems_for(config_data, secrets_env) == [expected]


def test_new_key_defaults(config_data: dict[str, Any], secrets_env: dict[str, str]) -> None:
    config = parse(config_data, secrets_env)
    assert (
        config.orders.warehouse_by_location,
        config.orders.lines_without_sku,
        config.orders.currency,
    ) == (False, "hold", "shop")
    assert config.products.groups is None
    assert config.inventory.assemblies is False
    assert config.unleashed.base_currency is None
    assert config.schedule.full_inventory == time(3, 30)
    assert config.alerts == AlertsConfig(
        webhook_url=None, ping_url=None, on=("failed", "held", "error"), max_age=None
    )


@pytest.mark.parametrize(
    ("dotted", "value", "read", "expected"),
    [
        pytest.param(
            "orders.warehouse_by_location",
            True,
            lambda c: c.orders.warehouse_by_location,
            True,
            id="warehouse_by_location",
        ),
        pytest.param(
            "orders.lines_without_sku",
            "charge",
            lambda c: c.orders.lines_without_sku,
            "charge",
            id="lines_without_sku",
        ),
        pytest.param(
            "orders.currency",
            "presentment",
            lambda c: c.orders.currency,
            "presentment",
            id="currency",
        ),
        pytest.param(
            "products.groups",
            ["Tees", "Mugs"],
            lambda c: c.products.groups,
            ("Tees", "Mugs"),
            id="groups",
        ),
        pytest.param(
            "inventory.assemblies", True, lambda c: c.inventory.assemblies, True, id="assemblies"
        ),
        pytest.param(
            "unleashed.base_currency",
            "nzd",
            lambda c: c.unleashed.base_currency,
            "NZD",
            id="base_currency-upper-cased",
        ),
        pytest.param(
            "schedule.full_inventory",
            "4:05",
            lambda c: c.schedule.full_inventory,
            time(4, 5),
            id="full_inventory-one-digit-hour",
        ),
        pytest.param(
            "schedule.full_inventory",
            "23:59",
            lambda c: c.schedule.full_inventory,
            time(23, 59),
            id="full_inventory-last-minute",
        ),
        pytest.param(
            "schedule.full_inventory",
            None,
            lambda c: c.schedule.full_inventory,
            None,
            id="full_inventory-null-is-never",
        ),
        pytest.param("alerts.on", [], lambda c: c.alerts.on, (), id="on-empty-means-no-messages"),
        pytest.param("alerts.on", ["held"], lambda c: c.alerts.on, ("held",), id="on-held"),
        pytest.param("alerts.max_age", "2h", lambda c: c.alerts.max_age, 7200, id="max_age-2h"),
        pytest.param("alerts.max_age", "30s", lambda c: c.alerts.max_age, 30, id="max_age-30s"),
        pytest.param(
            "alerts.ping_url",
            "https://hc-ping.com/abc/",
            lambda c: c.alerts.ping_url,
            "https://hc-ping.com/abc",
            id="ping_url-trailing-slash-dropped",
        ),
    ],
)
def test_new_key_good_values(
    config_data: dict[str, Any],
    secrets_env: dict[str, str],
    dotted: str,
    value: Any,
    read: Callable[[Config], Any],
    expected: Any,
) -> None:
    change(config_data, dotted, value)
    assert read(parse(config_data, secrets_env)) == expected


def test_alerts_on_reads_the_yaml_key_on_unquoted(
    write_config: Callable[..., Path], secrets_env: dict[str, str]
) -> None:
    # YAML 1.1 reads a bare `on` key as true; the config still means the key `on`.
    path = write_config()
    path.write_text(path.read_text() + "alerts:\n  on: [error]\n", encoding="utf-8")
    assert load_config(path, env=secrets_env).alerts.on == ("error",)


def test_alert_urls_are_secrets(config_data: dict[str, Any], secrets_env: dict[str, str]) -> None:
    change(config_data, "alerts.webhook_url", "https://hooks.example.test/T0/B0/secret-part")
    change(config_data, "alerts.ping_url", "${SYNCER_PING_URL}")
    env = {**secrets_env, "SYNCER_PING_URL": "https://hc-ping.example.test/uuid-1"}
    config = parse(config_data, env)
    assert config.clear_secrets == ("alerts.webhook_url",)
    assert {"https://hooks.example.test/T0/B0/secret-part", env["SYNCER_PING_URL"]} <= set(
        config.secrets()
    )
    assert "alerts.webhook_url" in SECRET_KEYS
    assert "alerts.ping_url" in SECRET_KEYS


# -- one shop or several -------------------------------------------------------------------------


def two_shops(config_data: dict[str, Any]) -> dict[str, Any]:
    """The minimal config with its shop moved under shops: nz, plus a second shop au."""
    shopify = config_data.pop("shopify")
    config_data["shops"] = {
        "nz": {"shopify": shopify, "orders": {"order_number_prefix": "NZ-"}},
        "au": {
            "shopify": {"shop": "au-store.myshopify.com", "access_token": "${SHOPIFY_AU_TOKEN}"},
            "orders": {"order_number_prefix": "AU-", "warehouse": "SYD"},
            "inventory": {"locations": {"SYD": "Sydney"}, "buffer": 2},
        },
    }
    return config_data


@pytest.fixture
def shops_env(secrets_env: dict[str, str]) -> dict[str, str]:
    return {**secrets_env, "SHOPIFY_AU_TOKEN": "shpat_au_0001"}


@pytest.mark.parametrize(
    ("shop", "name"),
    [
        pytest.param("example-store.myshopify.com", "example-store.myshopify.com", id="domain"),
        pytest.param("https://example-store.myshopify.com/", "example-store.myshopify.com", id="u"),
        pytest.param("http://127.0.0.1:8701/", "127.0.0.1:8701", id="sandbox-url"),
    ],
)
def test_single_shopify_section_is_one_shop_named_by_its_domain(
    config_data: dict[str, Any], secrets_env: dict[str, str], shop: str, name: str
) -> None:
    change(config_data, "shopify.shop", shop)
    config = parse(config_data, secrets_env)
    assert [s.name for s in config.shops] == [name]
    assert config.shop_name == name
    only = config.shops[0]
    assert (only.shopify, only.orders, only.inventory) == (
        config.shopify,
        config.orders,
        config.inventory,
    )


def test_shops_merge_over_the_top_level_sections(
    config_data: dict[str, Any], shops_env: dict[str, str]
) -> None:
    config_data["orders"] = {"warehouse": "MAIN", "customer": {"mode": "single", "code": "WEB"}}
    config_data["products"] = {"fields": ["title", "price"], "price_tier": 3}
    config = parse(two_shops(config_data), shops_env)
    config_data["shops"]["au"]["orders"]["customer"] = {"code": "AU"}
    config_data["shops"]["au"]["products"] = {"fields": ["price"]}
    merged = parse(config_data, shops_env)
    nz, au = merged.shops
    assert [s.name for s in config.shops] == ["nz", "au"]
    # Scalars replace: the shop's warehouse and prefix; the rest comes from the top level.
    assert (nz.orders.warehouse, nz.orders.order_number_prefix) == ("MAIN", "NZ-")
    assert (au.orders.warehouse, au.orders.order_number_prefix) == ("SYD", "AU-")
    # Mappings merge key by key: au's customer keeps the top-level mode.
    assert (au.orders.customer.mode, au.orders.customer.code) == ("single", "AU")
    assert (nz.orders.customer.mode, nz.orders.customer.code) == ("single", "WEB")
    # Lists replace whole.
    assert (nz.products.fields, au.products.fields) == (("title", "price"), ("price",))
    assert au.products.price_tier == 3
    # inventory.locations is a mapping too: au gets MAIN from the top level and its own SYD.
    assert dict(au.inventory.locations) == {"MAIN": "Main warehouse", "SYD": "Sydney"}
    assert (nz.inventory.buffer, au.inventory.buffer) == (0, 2)
    assert au.shopify.access_token == "shpat_au_0001"


def test_the_first_shop_is_the_top_level_and_for_shop_switches(
    config_data: dict[str, Any], shops_env: dict[str, str]
) -> None:
    config = parse(two_shops(config_data), shops_env)
    assert (config.shop_name, config.orders.order_number_prefix) == ("nz", "NZ-")
    au = config.for_shop(config.shop_named("au"))
    assert au.shop_name == "au"
    assert (au.shopify.shop, au.orders.warehouse, au.inventory.buffer) == (
        "au-store.myshopify.com",
        "SYD",
        2,
    )
    assert au.shops == config.shops
    assert au.unleashed == config.unleashed
    assert set(config.secrets()) >= {"shpat_test_token_0001", "shpat_au_0001"}


def test_an_unknown_shop_name_is_a_usage_error_listing_the_shops(
    config_data: dict[str, Any], shops_env: dict[str, str]
) -> None:
    config = parse(two_shops(config_data), shops_env)
    with pytest.raises(UsageError) as caught:
        config.shop_named("uk")
    assert str(caught.value) == "no shop named 'uk' in the config; its shops are: nz, au"
    assert caught.value.exit_code == 2


def test_master_shopify_is_fine_with_one_shop_under_shops(
    config_data: dict[str, Any], shops_env: dict[str, str]
) -> None:
    two_shops(config_data)["master"] = "shopify"
    del config_data["shops"]["au"]
    assert parse(config_data, shops_env).master == "shopify"


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda data: change(data, dotted, value)


SHOPS_ERRORS = [
    pytest.param(
        lambda d: d.update(shopify={"shop": "x.myshopify.com", "access_token": "t"}),
        [
            Problem(
                "shopify",
                "cannot stand beside shops:",
                "move the connection into each shop as shops.<name>.shopify, or drop shops:",
            )
        ],
        id="shopify-and-shops",
    ),
    pytest.param(
        _set("shops.au.orders.order_number_prefix", "NZ-"),
        [
            Problem(
                "shops.au.orders.order_number_prefix",
                "'NZ-' is also shop nz's prefix",
                "give each shop its own order_number_prefix, e.g. NZ- and AU-",
            )
        ],
        id="same-prefix",
    ),
    pytest.param(
        lambda d: [d["shops"][n]["orders"].pop("order_number_prefix") for n in ("nz", "au")],
        [
            Problem(
                "shops.au.orders.order_number_prefix",
                "'SH-' is also shop nz's prefix",
                "give each shop its own order_number_prefix, e.g. NZ- and AU-",
            )
        ],
        id="same-inherited-default-prefix",
    ),
    pytest.param(
        lambda d: d.update(master="shopify"),
        [
            Problem(
                "master",
                "must be unleashed when shops: lists more than one shop",
                "set master: unleashed; with several shops Unleashed owns the product data",
            )
        ],
        id="master-shopify-with-two-shops",
    ),
    pytest.param(
        lambda d: d.update(shops={}),
        [
            Problem(
                "shops",
                "must list at least one shop",
                "add a shop, or use a single shopify: section",
            )
        ],
        id="empty-shops",
    ),
    pytest.param(
        lambda d: d.update(shops=None),
        [
            Problem(
                "shops",
                "must list at least one shop",
                "add a shop, or use a single shopify: section",
            )
        ],
        id="null-shops",
    ),
    pytest.param(
        lambda d: d.update(shops=["nz", "au"]),
        [Problem("shops", "must be a mapping, got a list", "indent its keys under it")],
        id="shops-a-list",
    ),
    pytest.param(
        lambda d: d["shops"].update({"n z": d["shops"].pop("nz")}),
        [Problem("shops.n z", "'n z' is not a shop name", "use letters, digits, - and _")],
        id="shop-name-with-a-space",
    ),
    pytest.param(
        lambda d: d["shops"]["au"].pop("shopify"),
        [Problem("shops.au.shopify", "is required", "add shop and access_token under it")],
        id="shop-without-shopify",
    ),
    pytest.param(
        _set("shops.au.shopify.shop", "not a shop!"),
        [
            Problem(
                "shops.au.shopify.shop",
                "'not a shop!' is not a shop domain",
                "use example-store.myshopify.com or a base URL",
            )
        ],
        id="shop-bad-domain",
    ),
    pytest.param(
        _set("shops.au.order", {}),
        [Problem("shops.au.order", "unknown key", "did you mean 'orders'?")],
        id="shop-unknown-section",
    ),
    pytest.param(
        _set("shops.au.schedule", {"orders": "5m"}),
        [
            Problem(
                "shops.au.schedule",
                "unknown key",
                "known keys: shopify, orders, products, inventory, fulfillments",
            )
        ],
        id="schedule-is-not-per-shop",
    ),
    pytest.param(
        _set("shops.au.orders.wharehouse", "SYD"),
        [Problem("shops.au.orders.wharehouse", "unknown key", "did you mean 'warehouse'?")],
        id="shop-unknown-key",
    ),
    pytest.param(
        _set("shops.au.inventory.buffer", -1),
        [Problem("shops.au.inventory.buffer", "must be at least 0, got -1")],
        id="shop-bad-value-named-in-the-shop",
    ),
    pytest.param(
        _set("shops.au.orders.customer.mode", "all"),
        [Problem("shops.au.orders.customer.mode", "must be one of per_email, single, got 'all'")],
        id="shop-bad-nested-value",
    ),
    pytest.param(
        _set("shops.au.products", ["Tees"]),
        [Problem("shops.au.products", "must be a mapping, got a list", "indent its keys under it")],
        id="shop-section-a-list",
    ),
    pytest.param(
        _set("orders.tax_code", ["GST"]),
        [Problem("orders.tax_code", "must be a string, got a list")],
        id="inherited-bad-value-named-once-at-the-top",
    ),
    pytest.param(
        lambda d: d.pop("inventory"),
        [
            Problem(
                "shops.nz.inventory.locations",
                "is required when inventory is enabled",
                'map warehouse codes to locations, e.g. MAIN: "Main warehouse"',
            )
        ],
        id="missing-locations-named-in-the-shop",
    ),
]


@pytest.mark.parametrize(("breaks", "expected"), SHOPS_ERRORS)
def test_shops_errors_name_the_key(
    config_data: dict[str, Any],
    shops_env: dict[str, str],
    breaks: Callable[[dict[str, Any]], Any],
    expected: list[Problem],
) -> None:
    data = two_shops(config_data)
    breaks(data)
    assert problems_for(data, shops_env) == expected


def test_shops_errors_exit_2_through_the_cli(
    config_data: dict[str, Any], write_config: Callable[..., Path], shops_env: dict[str, str]
) -> None:
    from click.testing import CliRunner

    from syncer.cli import cli

    data = two_shops(config_data)
    data["master"] = "shopify"
    path = write_config(data)
    result = CliRunner().invoke(cli, ["--config", str(path), "status"], env=shops_env)
    assert result.exit_code == 2
    assert "  - master: must be unleashed when shops: lists more than one shop" in result.output


@settings(max_examples=200, deadline=None)
@given(base=st.recursive(LEAVES, nested, max_leaves=12), over=st.recursive(LEAVES, nested))
def test_merge_mappings_key_by_key_and_replaces_the_rest(base: Any, over: Any) -> None:
    merged = merge(base, over)
    if not (isinstance(base, dict) and isinstance(over, dict)):
        assert merged == over
        return
    assert set(merged) == set(base) | set(over)
    for name, value in merged.items():
        if name not in over:
            assert value == base[name]
        elif name not in base:
            assert value == over[name]
        else:
            assert value == merge(base[name], over[name])


SHOPS_IN_FLOW_STYLE = """\
shops:
  nz:
    shopify: {shop: nz-store.myshopify.com, access_token: ${SHOPIFY_NZ_TOKEN}}
    orders: {order_number_prefix: "NZ-"}
    inventory: {locations: {MAIN: "Main warehouse"}}
  au:
    shopify: {shop: au-store.myshopify.com, access_token: ${SHOPIFY_AU_TOKEN}}
    orders: {order_number_prefix: "AU-", warehouse: SYD}
    products: {price_tier: 2, groups: [Tees, Mugs]}
    inventory: {locations: {SYD: "Sydney", MAIN: "NZ warehouse"}, buffer: 2}
unleashed:
  api_id: ${UNLEASHED_API_ID}
  api_key: ${UNLEASHED_API_KEY}
  note_kept: "a ${NOT_A_SECRET} in quotes"
"""


def test_bare_secrets_inside_flow_mappings_are_read(tmp_path: Path) -> None:
    """`{access_token: ${TOKEN}}` is a YAML syntax error as written ({ and } are structure);
    the natural way to write a secret there still works."""
    path = tmp_path / "config.yaml"
    path.write_text(SHOPS_IN_FLOW_STYLE.replace("  note_kept", "  client_type"), encoding="utf-8")
    env = {
        "SHOPIFY_NZ_TOKEN": "shpat_nz",
        "SHOPIFY_AU_TOKEN": "shpat_au",
        "UNLEASHED_API_ID": "id",
        "UNLEASHED_API_KEY": "key",
        "NOT_A_SECRET": "x",
    }
    config = load_config(path, env=env)
    assert [(s.name, s.shopify.access_token) for s in config.shops] == [
        ("nz", "shpat_nz"),
        ("au", "shpat_au"),
    ]
    assert config.shops[1].inventory.buffer == 2
    assert config.unleashed.client_type == "a x in quotes"
