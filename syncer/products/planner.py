"""The three-way product planner: master now, other side now, values last synced.

Per SKU and field:
- master changed since the last sync (its value differs from the stored one): write the master's
  value to the other side; this replaces any drift on that field;
- master unchanged but the other side differs: a `drift` item with both values, nothing written,
  unless `overwrite_drift`;
- no stored value (a SKU linked for the first time, or a field newly selected): the master's
  value is written where it differs.

Only differing fields are written, and only to the other side: `ProductPlan` refuses a write to
the master side, so no code path can produce one. Pure: no HTTP, no SQL, no CLI.

Contract with the caller: for every SKU in `scope` (every SKU seen when `scope` is None) the two
lists hold that SKU's current records on both sides, so a SKU absent from a list is absent from
that side. Incremental runs fetch both sides' records for the changed SKUs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from syncer.products.projection import (
    FIELDS,
    PRODUCT_LEVEL_FIELDS,
    SIDE_NAMES,
    SIDES,
    Projection,
    Side,
    to_store,
)
from syncer.report import Item

WriteKind = Literal["create", "update"]
# Where each side keeps the title that both APIs require on every product.
REQUIRED_TITLE: dict[Side, str] = {"unleashed": "ProductDescription", "shopify": "title"}
# Shopify statuses that already keep a product off sale; an obsolete product there is left alone.
OFF_SALE_STATUSES = frozenset({"DRAFT", "ARCHIVED"})


def other_side(side: Side) -> Side:
    if side not in SIDES:
        raise ValueError(f"master is {side!r}; use 'unleashed' or 'shopify'")
    return "unleashed" if side == "shopify" else "shopify"


@dataclass(frozen=True)
class ProductWrite:
    """One record to create or update on the non-master side.

    `changes` maps field -> (current, new) in projected terms (tax-exclusive price, kg weight);
    the writer converts to wire form (see projection.shopify_price). Besides FIELDS it may hold
    "status" -> (current, "DRAFT") for an obsolete Unleashed product.
    """

    sku: str
    side: Side
    kind: WriteKind
    changes: Mapping[str, tuple[Any, Any]]
    # Ids of the record written (empty for a create) and of the master record it comes from.
    ids: Mapping[str, str] = field(default_factory=dict)
    master_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductPlan:
    """What a products run would do. Writes only ever target the non-master side."""

    master_side: Side
    writes: tuple[ProductWrite, ...]
    items: tuple[Item, ...]
    # sku -> the complete last-synced dict to store once that SKU's write (if any) succeeded.
    synced: Mapping[str, Mapping[str, str]]

    def __post_init__(self) -> None:
        target = other_side(self.master_side)
        for write in self.writes:
            if write.side != target:
                raise ValueError(
                    f"refusing a plan that writes {write.sku} to {write.side}, the master side"
                )

    @property
    def change_count(self) -> int:
        """Products the plan would create or change: what products.max_changes limits."""
        return len(self.writes)


def _display(name: str, value: object) -> str | None:
    """A JSON-safe form of a projected value for the report."""
    if name == "status":
        return None if value is None else str(value)
    return None if value is None else to_store(name, value)


def _index(
    records: Iterable[Projection], side: Side
) -> tuple[dict[str, Projection | tuple[Projection, ...]], list[Projection]]:
    """Records by SKU: the record itself, or a tuple of them when the SKU repeats (a whole
    catalogue is indexed, nearly all of one record: no tuple each)."""
    by_sku: dict[str, Projection | tuple[Projection, ...]] = {}
    unkeyed: list[Projection] = []
    for record in records:
        if record.side != side:
            raise ValueError(f"a {record.side} record was passed as the {side} side")
        if record.sku is None:
            unkeyed.append(record)
            continue
        held = by_sku.get(record.sku)
        if held is None:
            by_sku[record.sku] = record
        else:
            by_sku[record.sku] = (*_records(held), record)
    return by_sku, unkeyed


def _records(held: Projection | tuple[Projection, ...] | None) -> tuple[Projection, ...]:
    if held is None:
        return ()
    return held if isinstance(held, tuple) else (held,)


class SyncedValues(Mapping[str, Mapping[str, str]]):
    """sku -> the complete last-synced dict to store for it: the earlier values with the
    master record's selected fields over them. Each dict is built when asked for (the caller
    stores them in batches), so a whole catalogue's plan holds one record reference per SKU
    rather than a dict of strings per SKU. The records are frozen and the earlier values are
    not changed during a run, so a dict is the same whenever it is built."""

    def __init__(self, fields: tuple[str, ...], last_synced: Mapping[str, Mapping[str, str]]):
        self.fields = fields
        self.last_synced = last_synced
        self.masters: dict[str, Projection] = {}
        # Each distinct stored string once: prices and weights repeat across a catalogue.
        self.texts: dict[str, str] = {}

    def add(self, sku: str, master: Projection) -> None:
        self.masters[sku] = master

    def __getitem__(self, sku: str) -> dict[str, str]:
        master = self.masters[sku]
        stored = dict(self.last_synced.get(sku) or {})
        for name in self.fields:
            text = to_store(name, master.value(name))
            stored[name] = self.texts.setdefault(text, text)
        return stored

    def __iter__(self) -> Iterator[str]:
        return iter(self.masters)

    def __len__(self) -> int:
        return len(self.masters)

    def __contains__(self, sku: object) -> bool:
        return sku in self.masters


def _hold(key: str, reason: str, **detail: Any) -> Item:
    return Item("product", key, "hold", {"reason": reason, **detail}, error=reason)


def _duplicate_reason(sku: str, counts: Mapping[Side, int], known: Mapping[Side, set[str]]) -> str:
    parts = []
    for side in SIDES:
        count = counts[side]
        text = f"{count} record{'' if count == 1 else 's'} in {SIDE_NAMES[side]}"
        if count <= 1 and sku in known.get(side, set()):
            text += " (known duplicate)"
        parts.append(text)
    return (
        f"SKU {sku} is duplicated ({', '.join(parts)}); give each product a unique "
        "SKU/ProductCode, then run again"
    )


@dataclass
class _Builder:
    master_side: Side
    fields: tuple[str, ...]
    create_missing: bool
    overwrite_drift: bool
    last_synced: Mapping[str, Mapping[str, str]]
    writes: list[ProductWrite] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    synced: SyncedValues = field(init=False)
    no_detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.synced = SyncedValues(self.fields, self.last_synced)

    @property
    def target(self) -> Side:
        return other_side(self.master_side)

    def problems(self, *records: Projection | None) -> list[str]:
        reasons = [
            problem.reason
            for record in records
            if record is not None
            for problem in record.problems
            if problem.field is None or problem.field in self.fields
        ]
        master, other = records[0], records[1] if len(records) > 1 else None
        creating = other is None and master is not None and not master.obsolete
        if master is not None and master.title is None and ("title" in self.fields or creating):
            # Both APIs refuse a product without a title: hold before any write is sent.
            reasons.append(
                f"the {SIDE_NAMES[self.master_side]} record has no "
                f"{REQUIRED_TITLE[self.master_side]}; set one (it is the product title)"
            )
        if (
            master is not None
            and "price" in self.fields
            and (master.price is None or master.unset_price)
            and not any(p.field == "price" for p in master.problems)
        ):
            # Never a price of nothing on the other side: hold, naming the unset tier if any.
            reasons.append(
                master.unset_price
                or f"the {SIDE_NAMES[self.master_side]} record has no sell price; set one "
                "(products.price_tier selects the Unleashed price)"
            )
        return reasons

    def store_values(self, sku: str, master: Projection) -> None:
        self.synced.add(sku, master)

    def create(self, sku: str, master: Projection) -> None:
        if master.obsolete:
            self.items.append(
                Item("product", sku, "unchanged", {"note": "obsolete in Unleashed; not created"})
            )
            return
        if not self.create_missing:
            self.items.append(
                Item(
                    "product",
                    sku,
                    "drift",
                    {
                        "missing_on": self.target,
                        "note": f"not in {SIDE_NAMES[self.target]}; products.create_missing is off",
                    },
                )
            )
            return
        # Both APIs require a title to create a product, selected or not.
        names = self.fields if "title" in self.fields else ("title", *self.fields)
        changes = {
            name: (None, master.value(name)) for name in names if master.value(name) is not None
        }
        self.writes.append(
            ProductWrite(sku, self.target, "create", changes, master_ids=dict(master.ids))
        )
        self.items.append(Item("product", sku, "create", self.diff(changes)))
        self.store_values(sku, master)

    def diff(self, changes: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
        return {
            name: {"current": _display(name, current), "new": _display(name, new)}
            for name, (current, new) in changes.items()
        }

    def update(self, sku: str, master: Projection, other: Projection) -> None:
        stored = self.last_synced.get(sku)
        changes: dict[str, tuple[Any, Any]] = {}
        drift: dict[str, dict[str, Any]] = {}
        for name in self.fields:
            new, current = master.value(name), other.value(name)
            if new == current:
                continue
            locked = (
                self.master_side == "unleashed"
                and other.multi_variant
                and name in PRODUCT_LEVEL_FIELDS
            )
            last = None if stored is None else stored.get(name)
            master_changed = last is None or to_store(name, new) != last
            if not locked and (master_changed or self.overwrite_drift):
                changes[name] = (current, new)
            else:
                drift[name] = {
                    "master": _display(name, new),
                    "other": _display(name, current),
                }
                if locked:
                    drift[name]["note"] = (
                        "shared by every variant of a multi-variant Shopify product; not written"
                    )
        if (
            self.master_side == "unleashed"
            and master.obsolete
            and other.status not in OFF_SALE_STATUSES
        ):
            if other.multi_variant:
                drift["status"] = {
                    "master": "obsolete",
                    "other": other.status,
                    "note": "the Shopify product has other variants; set it to draft by hand",
                }
            else:
                changes["status"] = (other.status, "DRAFT")

        if changes:
            self.writes.append(
                ProductWrite(
                    sku,
                    self.target,
                    "update",
                    changes,
                    ids=dict(other.ids),
                    master_ids=dict(master.ids),
                )
            )
            self.items.append(Item("product", sku, "update", self.diff(changes)))
        if drift:
            self.items.append(Item("product", sku, "drift", drift))
        if not changes and not drift:
            # One empty detail for every unchanged item of the plan (a catalogue of them);
            # nothing adds to an unchanged item's detail.
            self.items.append(Item("product", sku, "unchanged", self.no_detail))
        self.store_values(sku, master)


def plan(
    master_side: Side,
    master: Iterable[Projection],
    other: Iterable[Projection],
    last_synced: Mapping[str, Mapping[str, str]],
    *,
    fields: Iterable[str] = FIELDS,
    create_missing: bool = True,
    overwrite_drift: bool = False,
    scope: set[str] | None = None,
    duplicates: Mapping[Side, set[str]] | None = None,
) -> ProductPlan:
    """Plan one products run.

    `master` and `other` are lists of projections (not dicts) so duplicate SKUs are seen;
    `duplicates` adds SKUs known to be duplicated outside these lists. `scope` None reconciles
    every SKU seen; otherwise only those SKUs are planned. Records without a SKU are always held.
    """
    target = other_side(master_side)
    selected = tuple(dict.fromkeys(fields))
    unknown = [name for name in selected if name not in FIELDS]
    if unknown:
        raise ValueError(
            f"products.fields has unknown field(s) {', '.join(unknown)}; "
            f"use some of {', '.join(FIELDS)}"
        )
    builder = _Builder(master_side, selected, create_missing, overwrite_drift, last_synced)

    master_by_sku, master_unkeyed = _index(master, master_side)
    other_by_sku, other_unkeyed = _index(other, target)
    for record in (*master_unkeyed, *other_unkeyed):
        reasons = [p.reason for p in record.problems if p.field is None]
        builder.items.append(_hold(record.label, "; ".join(reasons), ids=dict(record.ids)))

    known = duplicates or {}
    skus = sorted(master_by_sku.keys() | other_by_sku.keys())  # one set, not three
    if scope is not None:
        skus = [sku for sku in skus if sku in scope]
    for sku in skus:
        records: dict[Side, tuple[Projection, ...]] = {
            master_side: _records(master_by_sku.get(sku)),
            target: _records(other_by_sku.get(sku)),
        }
        if any(len(records[side]) > 1 or sku in known.get(side, set()) for side in SIDES):
            counts = {side: len(records[side]) for side in SIDES}
            builder.items.append(
                _hold(
                    sku,
                    _duplicate_reason(sku, counts, known),
                    records={side: [dict(r.ids) for r in records[side]] for side in SIDES},
                )
            )
            continue
        master_record = records[master_side][0] if records[master_side] else None
        other_record = records[target][0] if records[target] else None
        reasons = builder.problems(master_record, other_record)
        if reasons:
            builder.items.append(_hold(sku, "; ".join(reasons)))
        elif master_record is None:
            builder.items.append(
                Item(
                    "product",
                    sku,
                    "drift",
                    {
                        "missing_on": master_side,
                        "note": f"only in {SIDE_NAMES[target]}; "
                        f"{SIDE_NAMES[master_side]} is the master",
                    },
                )
            )
        elif other_record is None:
            builder.create(sku, master_record)
        else:
            builder.update(sku, master_record, other_record)

    return ProductPlan(
        master_side=master_side,
        writes=tuple(builder.writes),
        items=tuple(builder.items),
        synced=builder.synced,
    )


def safety_check(
    plan: ProductPlan,
    *,
    max_changes: int,
    force: bool,
    master_count: int,
    other_count: int,
    linked_count: int,
) -> str | None:
    """The SafetyStop message for a plan, or None when it may be applied.

    `master_count` and `other_count` are how many products each side listed in total (not only
    the changed ones); `linked_count` is how many SKUs the state links.
    """
    if force:
        return None
    if linked_count > 0:
        counts = {plan.master_side: master_count, other_side(plan.master_side): other_count}
        empty = [SIDE_NAMES[side] for side in SIDES if counts[side] == 0]
        if empty:
            return (
                f"{' and '.join(empty)} listed no products while {linked_count} products are "
                "linked; check the account and its credentials, or re-run with --force to "
                "apply the plan anyway"
            )
    if plan.change_count > max_changes:
        return (
            f"the plan would change {plan.change_count} products, more than "
            f"products.max_changes ({max_changes}); re-run with --force to apply it"
        )
    return None


def outside_groups(records: Iterable[Projection], groups: Iterable[str] | None) -> set[str]:
    """The SKUs of Unleashed `records` whose product group is not one of `groups` (compared
    without case): a shop limited to some groups neither gets nor updates those products.
    Empty when `groups` is None (every product goes to the shop)."""
    if groups is None:
        return set()
    wanted = {group.casefold() for group in groups}
    return {
        record.sku
        for record in records
        if record.sku and (record.product_type or "").casefold() not in wanted
    }
