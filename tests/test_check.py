"""`syncer check` against the sandboxes over real sockets, and its pure coverage analysis.

The seeded sandboxes diverge on purpose (a Shopify-only product, a product Shopify lacks):
those must be warnings, so a good config still exits 0.
"""

from __future__ import annotations

import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from syncer.check import (
    CheckResult,
    product_setting_checks,
    sku_coverage_checks,
    tax_code_checks,
)
from syncer.cli import cli
from syncer.config import Config, OrdersConfig, ProductsConfig, ShopifyConfig, UnleashedConfig

MARKS = {"✓": "ok", "!": "warn", "✗": "fail"}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns off a terminal; one check per line keeps assertions exact."""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture(scope="module")
def shared() -> Any:
    """One sandbox pair for the tests that only read; tests that change it use `sandboxes`."""
    from syncer.sandbox.runner import start_sandboxes

    boxes = start_sandboxes(seed=1)
    try:
        yield boxes
    finally:
        boxes.stop()


@pytest.fixture(autouse=True)
def full_bucket(request: pytest.FixtureRequest) -> None:
    """Each test starts with a full Shopify cost bucket, as a fresh sandbox would: a drained
    one would make the client wait, which is not what these tests measure."""
    if "shared" in request.fixturenames:
        request.getfixturevalue("shared").shopify.set_bucket()


def run_check(config_path: Path) -> tuple[Result, dict[str, tuple[str, str]]]:
    """Invoke `check`; return the result and {check name: (status, detail)}."""
    result = CliRunner().invoke(cli, ["--config", str(config_path), "check"])
    lines: dict[str, tuple[str, str]] = {}
    for text in result.output.splitlines():
        mark, _, rest = text.partition(" ")
        if mark in MARKS and rest:
            name, _, detail = rest.partition(": ")
            lines[name] = (MARKS[mark], detail)
    return result, lines


def private_config(boxes: Any, folder: Path, **overrides: Any) -> Path:
    """A sandbox config in a folder only the owner can open."""
    folder.chmod(0o700)
    return boxes.write_config(folder / "config.yaml", **overrides)


# -- against the sandboxes ---------------------------------------------------------------------


def test_good_sandbox_config_passes_with_coverage_warnings(
    shared: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = private_config(shared, tmp_path)
    result, lines = run_check(path)

    assert result.exit_code == 0, result.output
    assert not [name for name, (status, _) in lines.items() if status == "fail"]
    assert lines["config"][0] == "ok"
    assert lines["secrets"] == ("ok", "read from the environment")
    assert lines["shopify"][0] == "ok"
    assert "currency NZD" in lines["shopify"][1]
    assert "prices include tax" in lines["shopify"][1]
    assert "API 2026-10" in lines["shopify"][1]
    assert lines["unleashed"][0] == "ok"
    assert "MAIN (Main warehouse)" in lines["unleashed"][1]
    for code in ("MAIN", "WEST"):
        assert lines[f"inventory.locations.{code}"][0] == "ok"
    assert lines["orders.warehouse"][0] == "ok"
    assert lines["orders.tax_code"] == ("ok", "G.S.T. (Goods and Services Tax), rate 0.15")
    assert lines["orders.customer.code"][0] == "ok"
    # NZD has no rate in Unleashed and no base currency is configured: assumed, with a warning.
    assert lines["orders.currency"] == (
        "warn",
        "shop currency NZD, sent in NZD at exchange rate 1, ASSUMED to be Unleashed's base "
        "currency (it has no rate there); set unleashed.base_currency to be sure",
    )
    # The deliberate divergence of the seeded world: warnings naming the SKUs, not failures.
    assert lines["SKUs only in Shopify"][0] == "warn"
    assert "SHOP-ONLY-1" in lines["SKUs only in Shopify"][1]
    assert lines["SKUs only in Unleashed"][0] == "warn"
    assert "P00002" in lines["SKUs only in Unleashed"][1]
    # The shipping service product is not reported as missing from the shop.
    assert "SHIPPING" not in lines["SKUs only in Unleashed"][1]
    assert "duplicate SKUs in Shopify" not in lines


def test_check_reads_each_side_in_pages_not_per_record(
    shared: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = private_config(shared, tmp_path)
    shared.shopify_server.clear_log()
    shared.unleashed_server.clear_log()
    result, _ = run_check(path)
    assert result.exit_code == 0, result.output
    # shop, locations, one page of variants (24 < 250)
    assert len(shared.shopify_server.requests("graphql")) == 3
    # warehouses, taxes, customer, currencies in use, one page of products (25 < 1000)
    assert len(shared.unleashed_server.requests("")) == 5


@pytest.mark.parametrize(
    ("overrides", "name", "expected"),
    [
        pytest.param(
            {"inventory": {"locations": {"MAIN": "Main warehouse", "NORTH": "West warehouse"}}},
            "inventory.locations.NORTH",
            ["no warehouse with code NORTH", "codes: MAIN, WEST"],
            id="unknown-warehouse-code",
        ),
        pytest.param(
            {"inventory": {"locations": {"MAIN": "Mian warehouse"}}},
            "inventory.locations.MAIN",
            ["no location 'Mian warehouse'", "'Main warehouse', 'West warehouse'"],
            id="unknown-location-name-lists-existing",
        ),
        pytest.param(
            {"orders": {"warehouse": "EAST"}},
            "orders.warehouse",
            ["no warehouse with code EAST", "set orders.warehouse"],
            id="unknown-orders-warehouse",
        ),
        pytest.param(
            {"orders": {"tax_code": "VAT"}},
            "orders.tax_code",
            ["no tax code 'VAT'", "G.S.T., NONE"],
            id="unknown-tax-code",
        ),
        pytest.param(
            {"orders": {"customer": {"mode": "single", "code": "NOPE"}}},
            "orders.customer.code",
            ["customer NOPE does not exist", "create customer NOPE"],
            id="unknown-customer-single-mode",
        ),
        pytest.param(
            {"orders": {"shipping": {"mode": "product", "product_code": "FREIGHT"}}},
            "orders.shipping.product_code",
            ["no active product FREIGHT", "orders.shipping.mode: charge"],
            id="unknown-shipping-product",
        ),
    ],
)
def test_a_broken_mapping_fails_naming_it(
    shared: Any,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    overrides: dict[str, Any],
    name: str,
    expected: list[str],
) -> None:
    result, lines = run_check(private_config(shared, tmp_path, **overrides))

    assert result.exit_code == 1, result.output
    status, detail = lines[name]
    assert status == "fail"
    for fragment in expected:
        assert fragment in detail
    failed = [n for n, (s, _) in lines.items() if s == "fail"]
    assert failed == [name]


def test_every_broken_mapping_is_named_in_one_run(
    shared: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = private_config(
        shared,
        tmp_path,
        orders={
            "warehouse": "EAST",
            "tax_code": "VAT",
            "customer": {"mode": "single", "code": "X"},
        },
        inventory={"locations": {"NORTH": "Mian warehouse"}},
    )
    result, lines = run_check(path)

    assert result.exit_code == 1
    detail = lines["inventory.locations.NORTH"][1]
    assert "no warehouse with code NORTH" in detail
    assert "no location 'Mian warehouse'" in detail
    for name in ("orders.warehouse", "orders.tax_code", "orders.customer.code"):
        assert lines[name][0] == "fail"


def test_deactivated_location_is_reported_as_such(
    sandboxes: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    with sandboxes.shopify.lock:
        sandboxes.shopify.location("WEST").is_active = False
    result, lines = run_check(private_config(sandboxes, tmp_path))

    assert result.exit_code == 1
    status, detail = lines["inventory.locations.WEST"]
    assert status == "fail"
    assert "'West warehouse' is deactivated" in detail
    assert "'Main warehouse'" in detail


def test_missing_fallback_customer_only_warns_in_per_email_mode(
    shared: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = private_config(shared, tmp_path, orders={"customer": {"code": "NOPE"}})
    result, lines = run_check(path)

    assert result.exit_code == 0, result.output
    status, detail = lines["orders.customer.code"]
    assert status == "warn"
    assert "orders without an email will fail" in detail


def test_location_mapped_by_gid_passes(
    shared: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    gid = shared.shopify.location("MAIN").id
    path = private_config(shared, tmp_path, inventory={"locations": {"MAIN": gid}})
    result, lines = run_check(path)

    assert result.exit_code == 0, result.output
    assert lines["inventory.locations.MAIN"][0] == "ok"
    assert "'Main warehouse'" in lines["inventory.locations.MAIN"][1]


def test_duplicate_sku_in_shopify_fails(
    sandboxes: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    # update_variant(sku, sku=...) cannot rename (its first parameter is named sku).
    shop = sandboxes.shopify
    with shop.lock:
        shop._set_sku(shop.variant_for("P00004"), "P00001")
    result, lines = run_check(private_config(sandboxes, tmp_path))

    assert result.exit_code == 1
    status, detail = lines["duplicate SKUs in Shopify"]
    assert status == "fail"
    assert "P00001 on 2 variants" in detail
    assert "give each variant its own SKU" in detail


def test_api_version_fall_forward_warns(
    shared: Any, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = shared.config()["shopify"]
    path = private_config(shared, tmp_path, shopify={**config, "api_version": "2025-01"})
    result, lines = run_check(path)

    assert result.exit_code == 0, result.output
    status, detail = lines["shopify.api_version"]
    assert status == "warn"
    assert "answered with API version 2026-01, not 2025-01" in detail


@pytest.mark.parametrize(
    ("env", "expected", "checked_before"),
    [
        pytest.param(
            {"SYNCER_SANDBOX_SHOPIFY_TOKEN": "shpat_wrong"},
            ["error: shopify refused the credentials"],
            "unleashed",
            id="wrong-shopify-token",
        ),
        pytest.param(
            {"SYNCER_SANDBOX_UNLEASHED_KEY": "wrong-key"},
            ["error: unleashed refused the credentials"],
            "shopify",
            id="wrong-unleashed-key",
        ),
        pytest.param(
            {
                "SYNCER_SANDBOX_SHOPIFY_TOKEN": "shpat_wrong",
                "SYNCER_SANDBOX_UNLEASHED_KEY": "key-2",
            },
            ["error: shopify refused the credentials", "error: unleashed refused the credentials"],
            "config",
            id="both-wrong-named-in-one-run",
        ),
    ],
)
def test_refused_credentials_exit_3_with_a_clear_message(
    shared: Any,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    expected: list[str],
    checked_before: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result, lines = run_check(private_config(shared, tmp_path))

    assert result.exit_code == 3, result.output
    for fragment in expected:
        assert fragment in result.output
    assert "check the" in result.output  # says what to do
    assert "Traceback" not in result.output
    # The lines done before the refusal are still shown; no mapping was checked.
    assert lines[checked_before][0] == "ok"
    assert "orders.warehouse" not in lines
    for value in env.values():
        assert value not in result.output


def test_secret_in_clear_warns(shared: Any, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    config = shared.config()["shopify"]
    token = sandbox_env["SYNCER_SANDBOX_SHOPIFY_TOKEN"]
    path = private_config(shared, tmp_path, shopify={**config, "access_token": token})
    result, lines = run_check(path)

    assert result.exit_code == 0, result.output
    status, detail = lines["secrets"]
    assert status == "warn"
    assert "shopify.access_token" in detail
    assert "${SHOPIFY_ACCESS_TOKEN}" in detail
    assert token not in result.output


@pytest.mark.parametrize(
    ("file_mode", "folder_mode", "status", "expected"),
    [
        pytest.param(0o600, 0o700, "ok", ["is private"], id="private"),
        pytest.param(0o644, 0o700, "warn", ["others can read it", "chmod 600"], id="world-file"),
        pytest.param(0o640, 0o700, "warn", ["chmod 600"], id="group-readable-file"),
        pytest.param(0o600, 0o755, "ok", ["is private"], id="ordinary-folder"),
        pytest.param(0o600, 0o777, "warn", ["folder", "chmod go-w"], id="writable-folder"),
    ],
)
def test_state_file_readable_by_others_warns(
    shared: Any,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    file_mode: int,
    folder_mode: int,
    status: str,
    expected: list[str],
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    database = folder / "syncer.db"
    database.touch()  # SQLite takes an empty file as a new database and keeps its mode
    database.chmod(file_mode)
    path = private_config(shared, tmp_path, state={"path": "state/syncer.db"})
    folder.chmod(folder_mode)
    result, lines = run_check(path)

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(database).st_mode) == file_mode  # check changes nothing
    assert lines["state file"][0] == status
    for fragment in expected:
        assert fragment in lines["state file"][1]
    if status == "warn" and file_mode & 0o077:
        assert f"chmod 600 {database}" in lines["state file"][1]


# -- the coverage analysis, as data ------------------------------------------------------------


def config(**sections: Any) -> Config:
    return Config(
        shopify=ShopifyConfig(shop="x.myshopify.com", access_token="t"),
        unleashed=UnleashedConfig(api_id="i", api_key="k"),
        **sections,
    )


def variant(sku: str | None, product: str = "Tee", title: str = "Default Title") -> dict[str, Any]:
    return {
        "id": f"gid://shopify/ProductVariant/{sku}",
        "sku": sku,
        "title": title,
        "product": {"title": product},
    }


def product(code: str) -> dict[str, Any]:
    return {"ProductCode": code}


def by_name(lines: list[CheckResult]) -> dict[str, tuple[str, str]]:
    return {name: (status, detail) for status, name, detail in lines}


@pytest.mark.parametrize(
    ("variants", "products", "expected"),
    [
        pytest.param(
            [variant("A"), variant("B")],
            [product("A"), product("B"), product("SHIPPING")],
            {"SKU coverage": ("ok", "2 SKUs on both sides")},
            id="aligned-shipping-product-ignored",
        ),
        pytest.param(
            [variant("A"), variant("A", "Hoodie", "Black / M")],
            [product("A")],
            {"duplicate SKUs in Shopify": ("fail", "A on 2 variants (Tee, Hoodie / Black / M)")},
            id="duplicate-in-shopify",
        ),
        pytest.param(
            [variant("A")],
            [product("A"), product("A")],
            {"duplicate product codes in Unleashed": ("fail", "1: A;")},
            id="duplicate-in-unleashed",
        ),
        pytest.param(
            [variant("A"), variant(None, "Gift card"), variant("  ", "Sticker")],
            [product("A")],
            {"variants without SKU": ("warn", "2 Shopify variant(s) have no SKU")},
            id="variants-without-sku",
        ),
        pytest.param(
            [variant("abc-1")],
            [product("ABC-1")],
            {"SKUs only in Shopify": ("warn", "differ only in letter case (abc-1 vs ABC-1)")},
            id="case-only-difference",
        ),
        pytest.param(
            [variant(f"S{i:02d}") for i in range(12)],
            [],
            {"SKUs only in Shopify": ("warn", "S09, and 2 more")},
            id="examples-capped-at-ten",
        ),
    ],
)
def test_sku_coverage_cases(
    variants: list[dict[str, Any]],
    products: list[dict[str, Any]],
    expected: dict[str, tuple[str, str]],
) -> None:
    lines = by_name(sku_coverage_checks(config(), variants, products))
    for name, (status, fragment) in expected.items():
        assert lines[name][0] == status
        assert fragment in lines[name][1]


skus = st.lists(st.sampled_from(["A", "B", "C", "D", "E", "a", ""]), max_size=12)


@given(shopify=skus, unleashed=skus)
def test_sku_coverage_accounts_for_every_sku(shopify: list[str], unleashed: list[str]) -> None:
    lines = by_name(
        sku_coverage_checks(
            config(), [variant(s) for s in shopify], [product(c) for c in unleashed]
        )
    )
    on_shopify = {s for s in shopify if s}
    on_unleashed = {c for c in unleashed if c}
    both = on_shopify & on_unleashed
    assert f"{len(both)} SKUs on both sides" in lines["SKU coverage"][1]
    for name, side in (
        ("SKUs only in Shopify", on_shopify - on_unleashed),
        ("SKUs only in Unleashed", on_unleashed - on_shopify),
    ):
        if side:
            assert lines[name][1].startswith(f"{len(side)} (")
        else:
            assert name not in lines
    has_duplicates = any(shopify.count(s) > 1 for s in on_shopify)
    assert ("duplicate SKUs in Shopify" in lines) == has_duplicates
    assert ("duplicate product codes in Unleashed" in lines) == any(
        unleashed.count(c) > 1 for c in on_unleashed
    )
    assert ("variants without SKU" in lines) == ("" in shopify)
    statuses = {status for status, _ in lines.values()}
    assert ("fail" in statuses) == (
        has_duplicates or any(unleashed.count(c) > 1 for c in on_unleashed)
    )


GST = {"TaxCode": "G.S.T.", "Description": "GST", "TaxRate": Decimal("0.15"), "Obsolete": False}


@pytest.mark.parametrize(
    ("taxes", "tax_rate", "taxes_included", "expected"),
    [
        pytest.param([GST], "0.15", True, {"orders.tax_code": "ok"}, id="matching-rate"),
        pytest.param(
            [GST],
            "0.10",
            True,
            {"orders.tax_code": "ok", "products.tax_rate": "warn"},
            id="rate-differs-prices-include-tax",
        ),
        pytest.param([GST], "0.10", False, {"orders.tax_code": "ok"}, id="rate-unused-ex-tax"),
        pytest.param(
            [{**GST, "Obsolete": True}], "0.15", True, {"orders.tax_code": "fail"}, id="obsolete"
        ),
        pytest.param([], "0.15", True, {"orders.tax_code": "fail"}, id="no-tax-codes"),
    ],
)
def test_tax_code_cases(
    taxes: list[dict[str, Any]], tax_rate: str, taxes_included: bool, expected: dict[str, str]
) -> None:
    cfg = config(
        orders=OrdersConfig(tax_code="G.S.T."), products=ProductsConfig(tax_rate=Decimal(tax_rate))
    )
    lines = by_name(tax_code_checks(cfg, taxes, taxes_included))
    assert {name: status for name, (status, _) in lines.items()} == expected
    if "products.tax_rate" in lines:
        assert "set it to 0.15" in lines["products.tax_rate"][1]


def tier_product(code: str, value: Any, name: str = "Wholesale") -> dict[str, Any]:
    return {"ProductCode": code, "SellPriceTier2": {"Name": name, "Value": value}}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(["12.5000", "8.0000"], ("ok", "2 of 2 products have a price"), id="all"),
        # An unfilled tier comes as 0.0000: the products job holds those, so check agrees.
        pytest.param(
            ["12.5000", "0.0000", None, ""], ("ok", "1 of 4 products have a price"), id="some"
        ),
        pytest.param(
            ["0.0000", "0", None], ("warn", "no Unleashed product has a 'Wholesale'"), id="none"
        ),
    ],
)
def test_price_tier_line_counts_only_the_prices_the_products_job_sends(
    values: list[Any], expected: tuple[str, str]
) -> None:
    products = [tier_product(f"P{i}", value) for i, value in enumerate(values)]

    lines = product_setting_checks(config(products=ProductsConfig(price_tier=2)), products)

    [(status, _, detail)] = [line for line in lines if line[1] == "products.price_tier"]
    assert status == expected[0]
    assert expected[1] in detail
