"""Start both sandboxes from one seeded World, and write a config that points syncer at them.

Used by `syncer demo`, `syncer sandbox serve`, the integration tests and the benchmark.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from syncer.sandbox.common import SandboxServer
from syncer.sandbox.seed import World, make_world
from syncer.sandbox.shopify import ShopifySandbox
from syncer.sandbox.unleashed import DEFAULT_API_ID, DEFAULT_API_KEY, UnleashedSandbox

SHOPIFY_TOKEN = "shpat_sandbox"
# The second shop of a two-shop sandbox has its own token, as a real second shop would.
SECOND_SHOPIFY_TOKEN = "shpat_sandbox_au"
# The environment the generated config reads its secrets from (they are never in the file).
SANDBOX_ENV = {
    "SYNCER_SANDBOX_SHOPIFY_TOKEN": SHOPIFY_TOKEN,
    "SYNCER_SANDBOX_SHOPIFY_AU_TOKEN": SECOND_SHOPIFY_TOKEN,
    "SYNCER_SANDBOX_UNLEASHED_ID": DEFAULT_API_ID,
    "SYNCER_SANDBOX_UNLEASHED_KEY": DEFAULT_API_KEY,
}
# The shops of a multi-shop sandbox config: name, token variable, order number prefix.
SHOP_SETTINGS = (
    ("nz", "SYNCER_SANDBOX_SHOPIFY_TOKEN", "NZ-"),
    ("au", "SYNCER_SANDBOX_SHOPIFY_AU_TOKEN", "AU-"),
)
# The second shop sells the same catalogue (same SKUs, same products) in Australian dollars,
# with its own orders: their numbers and gids collide with the first shop's, as two real
# shops' do.
SECOND_SHOP_SEED_OFFSET = 100
SECOND_SHOP_CURRENCY = "AUD"


@dataclass
class Sandboxes:
    world: World
    shopify: ShopifySandbox
    unleashed: UnleashedSandbox
    shopify_server: SandboxServer
    unleashed_server: SandboxServer
    # More Shopify shops on the same Unleashed account (`start_sandboxes(shops=2)`).
    more_shops: list[tuple[ShopifySandbox, SandboxServer]] = field(default_factory=list)

    @property
    def shops(self) -> list[tuple[str, ShopifySandbox, SandboxServer]]:
        """Every Shopify sandbox with its name in `shops_config`: nz first, then au."""
        boxes = [(self.shopify, self.shopify_server), *self.more_shops]
        return [
            (name, shop, server)
            for (name, _, _), (shop, server) in zip(SHOP_SETTINGS, boxes, strict=False)
        ]

    def shops_config(
        self,
        state_path: str | Path = "syncer.db",
        shops: dict[str, dict[str, Any]] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A `shops:` config (as data) over every Shopify sandbox: each shop its own URL,
        token and order number prefix; `shops` adds sections per shop name (merged key by
        key), `overrides` replace top-level sections as in `config`."""
        data = self.config(state_path, **overrides)
        data.pop("shopify")
        data["orders"] = {k: v for k, v in data["orders"].items() if k != "order_number_prefix"}
        settings = {name: (env, prefix) for name, env, prefix in SHOP_SETTINGS}
        result: dict[str, Any] = {}
        for name, _, server in self.shops:
            env, prefix = settings[name]
            own: dict[str, Any] = {
                "shopify": {
                    "shop": server.url,
                    "access_token": "${" + env + "}",
                    "api_version": "2026-10",
                },
                "orders": {"order_number_prefix": prefix},
            }
            for section, value in ((shops or {}).get(name) or {}).items():
                if isinstance(value, dict) and isinstance(own.get(section), dict):
                    own[section] = {**own[section], **value}
                else:
                    own[section] = value
            result[name] = own
        data["shops"] = result
        return data

    def config(self, state_path: str | Path = "syncer.db", **overrides: Any) -> dict[str, Any]:
        """A config (as data) for these sandboxes; `overrides` replace top-level sections."""
        data: dict[str, Any] = {
            "shopify": {
                "shop": self.shopify_server.url,
                "access_token": "${SYNCER_SANDBOX_SHOPIFY_TOKEN}",
                "api_version": "2026-10",
            },
            "unleashed": {
                "base_url": self.unleashed_server.url,
                "api_id": "${SYNCER_SANDBOX_UNLEASHED_ID}",
                "api_key": "${SYNCER_SANDBOX_UNLEASHED_KEY}",
                "client_type": "sandbox/syncer",
            },
            "master": "unleashed",
            "orders": {
                "start": "2026-01-01T00:00:00Z",
                "order_number_prefix": "SH-",
                "warehouse": "MAIN",
                "tax_code": "G.S.T.",
            },
            "products": {"tax_rate": 0.15},
            "inventory": {
                "locations": {code: name for code, name in self.world.warehouses},
            },
            "fulfillments": {"enabled": True},
            "state": {"path": str(state_path)},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    def write_config(self, path: str | Path, **overrides: Any) -> Path:
        target = Path(path)
        target.write_text(
            "# syncer config for the bundled sandboxes; secrets come from the environment:\n"
            + "".join(f"#   export {k}={v}\n" for k, v in SANDBOX_ENV.items())
            + yaml.safe_dump(self.config(**overrides), sort_keys=False),
            encoding="utf-8",
        )
        return target

    def write_shops_config(
        self, path: str | Path, shops: dict[str, dict[str, Any]] | None = None, **overrides: Any
    ) -> Path:
        target = Path(path)
        target.write_text(
            "# syncer config for two bundled Shopify sandboxes on one Unleashed sandbox;\n"
            "# secrets come from the environment:\n"
            + "".join(f"#   export {k}={v}\n" for k, v in SANDBOX_ENV.items())
            + yaml.safe_dump(self.shops_config(shops=shops, **overrides), sort_keys=False),
            encoding="utf-8",
        )
        return target

    def stop(self) -> None:
        for _, server in self.more_shops:
            server.stop()
        self.shopify_server.stop()
        self.unleashed_server.stop()

    def __enter__(self) -> Sandboxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandboxes(
    seed: int = 1,
    *,
    products: int = 12,
    orders: int = 20,
    shopify_port: int = 0,
    unleashed_port: int = 0,
    shopify_options: dict[str, Any] | None = None,
    unleashed_options: dict[str, Any] | None = None,
    paid_share: float | None = None,
    shops: int = 1,
) -> Sandboxes:
    """Both sandboxes on 127.0.0.1, seeded from one World so their SKUs line up
    (`paid_share`: see make_world; the benchmark asks for mostly paid orders).

    `shops=2` starts a second Shopify sandbox on the same Unleashed sandbox (on the next
    free port when `shopify_port` is given): the same catalogue, other orders, in AUD, with
    its own token; `Sandboxes.shops_config` writes the `shops:` config for both."""
    if not 1 <= shops <= len(SHOP_SETTINGS):
        raise ValueError(f"shops must be 1 to {len(SHOP_SETTINGS)}, got {shops}")
    world = make_world(seed, products=products, orders=orders, paid_share=paid_share)
    shopify = ShopifySandbox(world, access_token=SHOPIFY_TOKEN, **(shopify_options or {}))
    unleashed = UnleashedSandbox(world, **(unleashed_options or {}))
    shopify_server = SandboxServer(shopify, port=shopify_port).start()
    unleashed_server = SandboxServer(unleashed, port=unleashed_port).start()
    boxes = Sandboxes(world, shopify, unleashed, shopify_server, unleashed_server)
    if shops >= 2:
        # The same catalogue (a second shop kept in step with Unleashed), its own orders.
        orders_world = make_world(
            seed + SECOND_SHOP_SEED_OFFSET, products=products, orders=orders, paid_share=paid_share
        )
        other = replace(world, orders=orders_world.orders, currency=SECOND_SHOP_CURRENCY)
        options = {**(shopify_options or {}), "shop_domain": "syncer-sandbox-au.myshopify.com"}
        second = ShopifySandbox(other, access_token=SECOND_SHOPIFY_TOKEN, **options)
        port = shopify_port + 1 if shopify_port else 0
        if port and port == unleashed_port:
            port += 1
        boxes.more_shops.append((second, SandboxServer(second, port=port).start()))
    return boxes


def serve_forever(
    console: Any, *, shopify_port: int, unleashed_port: int, seed: int, shops: int = 1
) -> None:
    """`syncer sandbox serve`: run until Ctrl-C, after printing the URLs and a config."""
    boxes = start_sandboxes(
        seed, shopify_port=shopify_port, unleashed_port=unleashed_port, shops=shops
    )
    config_path = Path("sandbox-config.yaml")
    if shops > 1:
        boxes.write_shops_config(config_path, state={"path": "sandbox.db"})
        tokens = {name: SANDBOX_ENV[env] for name, env, _ in SHOP_SETTINGS}
        for name, shop, server in boxes.shops:
            console.print(
                f"Shopify sandbox {name}: {server.url}  "
                f"(token {tokens[name]}, {shop.world.currency})"
            )
    else:
        boxes.write_config(config_path, state={"path": "sandbox.db"})
        console.print(f"Shopify sandbox:   {boxes.shopify_server.url}  (token {SHOPIFY_TOKEN})")
    console.print(f"Unleashed sandbox: {boxes.unleashed_server.url}")
    console.print(f"Config written to {config_path}. In another shell:")
    console.print(
        "  "
        + " ".join(f"{k}={v}" for k, v in SANDBOX_ENV.items())
        + f" syncer --config {config_path} sync all --dry-run"
    )
    console.print("Faults and written data: POST/GET /_control/faults, GET /_control/requests.")
    console.print("Ctrl-C stops both.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        boxes.stop()
