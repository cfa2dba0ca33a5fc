"""Config validation (SPEC section 3): every key's bad value names its path and reason, all
problems are reported at once, and defaults, env expansion and relative paths hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syncer.config import FIELDS, Config, load_config, parse_config
from syncer.errors import ConfigError, Problem

REPO_ROOT = Path(__file__).resolve().parent.parent
DELETE = object()


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
