"""Start both sandboxes from one seeded World, and write a config that points syncer at them.

Used by `syncer demo`, `syncer sandbox serve`, the integration tests and the benchmark.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from syncer.sandbox.common import SandboxServer
from syncer.sandbox.seed import World, make_world
from syncer.sandbox.shopify import ShopifySandbox
from syncer.sandbox.unleashed import DEFAULT_API_ID, DEFAULT_API_KEY, UnleashedSandbox

SHOPIFY_TOKEN = "shpat_sandbox"
# The environment the generated config reads its secrets from (they are never in the file).
SANDBOX_ENV = {
    "SYNCER_SANDBOX_SHOPIFY_TOKEN": SHOPIFY_TOKEN,
    "SYNCER_SANDBOX_UNLEASHED_ID": DEFAULT_API_ID,
    "SYNCER_SANDBOX_UNLEASHED_KEY": DEFAULT_API_KEY,
}


@dataclass
class Sandboxes:
    world: World
    shopify: ShopifySandbox
    unleashed: UnleashedSandbox
    shopify_server: SandboxServer
    unleashed_server: SandboxServer

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

    def stop(self) -> None:
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
) -> Sandboxes:
    """Both sandboxes on 127.0.0.1, seeded from one World so their SKUs line up
    (`paid_share`: see make_world; the benchmark asks for mostly paid orders)."""
    world = make_world(seed, products=products, orders=orders, paid_share=paid_share)
    shopify = ShopifySandbox(world, access_token=SHOPIFY_TOKEN, **(shopify_options or {}))
    unleashed = UnleashedSandbox(world, **(unleashed_options or {}))
    shopify_server = SandboxServer(shopify, port=shopify_port).start()
    unleashed_server = SandboxServer(unleashed, port=unleashed_port).start()
    return Sandboxes(world, shopify, unleashed, shopify_server, unleashed_server)


def serve_forever(console: Any, *, shopify_port: int, unleashed_port: int, seed: int) -> None:
    """`syncer sandbox serve`: run until Ctrl-C, after printing the URLs and a config."""
    boxes = start_sandboxes(seed, shopify_port=shopify_port, unleashed_port=unleashed_port)
    config_path = Path("sandbox-config.yaml")
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
