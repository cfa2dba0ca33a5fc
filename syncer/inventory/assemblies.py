"""Unleashed assemblies (`inventory.assemblies: true`): which products are kits and components,
and when a kit's stock must be read again.

With `isAssembled=true`, StockOnHand counts in a kit's AvailableQty what its components can
build. A component's stock change moves that figure, but nothing says Unleashed re-stamps the
kit's own row (its LastModifiedOn), so an incremental read by `modifiedSince` may never list
the kit again. The inventory job therefore remembers which products are assembled and which
are components (`IsAssembledProduct` and `IsComponent` on Products, read in full once, then
only the products changed since), and whenever a component's row changed in a warehouse it
reads every kit of that warehouse again by Guid (50 a request). It re-reads every kit rather
than only those whose bill of materials names the component: the Products list says what is a
kit and what is a component, while which kit uses which component would cost one more request
per kit, on every run, to keep current.

Pure: the job reads and writes; these functions decide.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from syncer.inventory.planner import StockRow

ASSEMBLED = "assembled"
COMPONENT = "component"
PLAIN = "plain"  # was a kit or a component, is neither now
# The inventory cursor's key for when Products were last read for these flags: it cannot be a
# warehouse code, which holds no "~".
PRODUCTS_CURSOR = "~products"


@dataclass(frozen=True, slots=True)
class ProductKind:
    """What Unleashed's Products list says of one product's part in assemblies."""

    code: str
    guid: str
    assembled: bool
    component: bool


def product_kind(raw: Mapping[str, Any]) -> ProductKind | None:
    """A Products row's flags; None without a product code or Guid."""
    code = str(raw.get("ProductCode") or "").strip()
    guid = str(raw.get("Guid") or "").strip().lower()
    if not code or not guid:
        return None
    return ProductKind(
        code, guid, raw.get("IsAssembledProduct") is True, raw.get("IsComponent") is True
    )


def kind_links(
    kinds: Iterable[ProductKind], remembered: Collection[str], *, complete: bool
) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    """Link rows (code, Guid, status, data) that bring the remembered kits and components
    (`remembered`: their codes) in line with what was read. Only kits and components are
    kept; one remembered that is neither now becomes PLAIN. `complete`: the read listed every
    product, so a remembered one it did not list (deleted, obsolete) becomes PLAIN too."""
    rows: list[tuple[str, str | None, str, dict[str, Any]]] = []
    listed: set[str] = set()
    for kind in kinds:
        listed.add(kind.code)
        if kind.assembled or kind.component:
            status = ASSEMBLED if kind.assembled else COMPONENT
            data = {"assembled": kind.assembled, "component": kind.component}
            rows.append((kind.code, kind.guid, status, data))
        elif kind.code in remembered:
            rows.append((kind.code, kind.guid, PLAIN, {}))
    if complete:
        rows.extend((code, None, PLAIN, {}) for code in sorted(set(remembered) - listed))
    return rows


def warehouses_to_reread(
    changed: Iterable[StockRow], components: Collection[str], full: Collection[str]
) -> set[str]:
    """The incrementally read warehouses where a component's row changed: their kits' levels
    may have moved although the kits' own rows were not listed."""
    return {
        row.warehouse_code
        for row in changed
        if row.warehouse_code not in full and row.sku in components
    }


def merge_rows(rows: Iterable[StockRow], fresh: Iterable[StockRow]) -> list[StockRow]:
    """`rows` with each (SKU, warehouse) that `fresh` holds replaced by the fresh row."""
    fresh_rows = list(fresh)
    replaced = {(r.sku, r.warehouse_code) for r in fresh_rows}
    return [r for r in rows if (r.sku, r.warehouse_code) not in replaced] + fresh_rows
