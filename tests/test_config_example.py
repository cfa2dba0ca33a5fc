"""`config.example.yaml` (also what `syncer init` writes) against the config model: it loads,
it shows every key of the model, its values are the defaults the model declares (where it
does not show an example on purpose), and its commented `shops:` form loads too."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from syncer.config import Config, Section, load_config, model_keys, parse_config

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = REPO_ROOT / "config.example.yaml"
# Keys whose example value is an illustration rather than the default (or that have none).
ILLUSTRATED = {
    "shopify.shop",
    "shopify.access_token",
    "unleashed.api_id",
    "unleashed.api_key",
    "unleashed.client_type",
    "orders.start",
    "inventory.locations",
    "state.path",
}
SHOPS_ENV = {
    "SHOPIFY_NZ_TOKEN": "shpat_nz_0001",
    "SHOPIFY_AU_CLIENT_ID": "au-client",
    "SHOPIFY_AU_CLIENT_SECRET": "au-client-secret",
}


def env() -> dict[str, str]:
    from conftest import SECRETS_ENV

    return {**SECRETS_ENV, **SHOPS_ENV}


def dotted_keys(node: Any, prefix: str = "") -> set[str]:
    if not isinstance(node, dict):
        return set()
    keys: set[str] = set()
    for name, value in node.items():
        # YAML 1.1 reads the bare key `on` as true.
        name = "on" if name is True else name
        path = f"{prefix}.{name}" if prefix else str(name)
        keys |= {path} | dotted_keys(value, path)
    return keys


def shops_block(text: str) -> dict[str, Any]:
    """The commented `shops:` form: from `# shops:` to the end of that comment block."""
    lines = text.splitlines()
    start = lines.index("# shops:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    parsed = yaml.safe_load("\n".join(block))
    assert isinstance(parsed, dict)
    return parsed


def declared(path: str) -> Any:
    """The field declaring a dotted key of a single-shop config."""
    model: Any = Config
    *parents, last = path.split(".")
    for name in parents:
        model = next(f for f in fields(model) if f.name == name).metadata["kind"].model
    return next(f for f in fields(model) if f.name == last)


def value_at(config: Config, path: str) -> Any:
    value: Any = config
    for name in path.split("."):
        value = getattr(value, name)
    return value


def test_example_is_the_init_template_and_loads() -> None:
    assert EXAMPLE.read_bytes() == (REPO_ROOT / "syncer" / "config.example.yaml").read_bytes()
    config = load_config(EXAMPLE, env=env())
    assert config.clear_secrets == ()
    assert [shop.name for shop in config.shops] == ["example-store.myshopify.com"]


def test_every_model_key_is_documented() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    shown = dotted_keys(yaml.safe_load(text))
    for shop in shops_block(text)["shops"].values():
        shown |= dotted_keys(shop)
    missing = sorted(set(model_keys(Config)) - shown)
    assert missing == []


def test_example_values_are_the_declared_defaults() -> None:
    config = load_config(EXAMPLE, env=env())
    checked = []
    for path in model_keys(Config):
        spec = declared(path)
        if path in ILLUSTRATED or isinstance(spec.metadata["kind"], Section):
            continue
        default = spec.default if spec.default is not MISSING else spec.default_factory()
        assert value_at(config, path) == default, path
        checked.append(path)
    assert len(checked) > 40


def test_the_commented_shops_form_loads() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data.pop("shopify")
    data.update(shops_block(text))
    config = parse_config(data, env=env())
    nz, au = config.shops
    assert (nz.name, au.name) == ("nz", "au")
    assert (nz.shopify.access_token, au.shopify.client_secret) == (
        "shpat_nz_0001",
        "au-client-secret",
    )
    assert (au.orders.order_number_prefix, au.orders.warehouse) == ("AU-", "SYD")
    assert au.products.groups == ("Tees", "Mugs")


@pytest.mark.parametrize("form", ["shopify:", "# shops:"])
def test_init_writes_both_forms(tmp_path: Path, form: str) -> None:
    from click.testing import CliRunner

    from syncer.cli import cli

    target = tmp_path / "config.yaml"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0
    assert re.search(rf"^{re.escape(form)}$", target.read_text(encoding="utf-8"), re.M)


def test_every_key_declares_its_help() -> None:
    assert [p for p in model_keys(Config) if not declared(p).metadata["help"]] == []
