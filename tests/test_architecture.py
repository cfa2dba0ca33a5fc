"""The layering rules the code relies on, checked by reading every module's imports.

- Mapping and planning code imports no HTTP, no SQLite, no click and no rich.
- A job never imports another job: what two jobs share lives in a module of its own.
- Only syncer/render.py imports rich; only syncer/cli.py imports click; only
  syncer/store.py talks to SQLite (the sandboxes keep their own state in memory).
- The runtime never imports the bundled sandboxes (they are for the demo, tests and bench).
- The sandboxes import nothing of the product: they are written from the APIs' contracts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "syncer"
PURE = [
    "money.py",
    "report.py",
    "shapes.py",
    "links.py",
    "timeutil.py",
    "inventory/locations.py",
    "inventory/snapshot.py",
    "orders/mapping.py",
    "orders/events.py",
    "orders/credit.py",
    "products/projection.py",
    "products/planner.py",
    "inventory/planner.py",
    "fulfillments/planner.py",
]
IO_MODULES = (
    "requests",
    "sqlite3",
    "sqlite_utils",
    "click",
    "rich",
    "syncer.http",
    "syncer.store",
    "syncer.connectors",
    "syncer.cli",
    "syncer.render",
)


def module_name(path: Path) -> str:
    return ".".join(("syncer", *path.relative_to(PACKAGE).with_suffix("").parts))


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included); relative
    imports are resolved, and `from syncer.x import y` also counts as importing `syncer.x.y`
    (y may be a module)."""
    found: set[str] = set()
    package = module_name(path).split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module:
                found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names if module)
    return found


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def uses(path: Path, prefix: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for name in imports(path))


@pytest.mark.parametrize("relative", PURE)
def test_planners_and_mappers_do_no_io(relative: str) -> None:
    path = PACKAGE / relative
    bad = sorted(
        name
        for name in imports(path)
        for io in IO_MODULES
        if name == io or name.startswith(io + ".")
    )
    assert not bad, f"{relative} imports {bad}: keep mapping and planning pure"


@pytest.mark.parametrize(
    ("library", "allowed"),
    [
        pytest.param("rich", {"render.py"}, id="rich-only-in-render"),
        pytest.param("click", {"cli.py"}, id="click-only-in-cli"),
        pytest.param("sqlite3", {"store.py"}, id="sqlite-only-in-store"),
        pytest.param("sqlite_utils", {"store.py"}, id="sqlite-utils-only-in-store"),
    ],
)
def test_one_module_owns_each_library(library: str, allowed: set[str]) -> None:
    users = {str(p.relative_to(PACKAGE)) for p in modules() if uses(p, library)}
    assert users <= allowed, f"{sorted(users - allowed)} import {library}"


def test_the_runtime_does_not_import_the_sandboxes() -> None:
    runtime = [
        p for p in modules() if "sandbox" not in p.parts and p.name not in {"demo.py", "cli.py"}
    ]
    users = [str(p.relative_to(PACKAGE)) for p in runtime if uses(p, "syncer.sandbox")]
    assert not users, f"{users} import syncer.sandbox"


def test_every_planner_projection_and_mapping_module_is_checked_for_io() -> None:
    named = {
        str(p.relative_to(PACKAGE))
        for p in modules()
        if p.stem in {"planner", "projection", "mapping"} and "sandbox" not in p.parts
    }
    assert named <= set(PURE), f"{sorted(named - set(PURE))} missing from PURE"


def job_modules() -> list[Path]:
    return sorted(PACKAGE.glob("*/job.py"))


def test_the_jobs_are_found() -> None:
    names = {p.parent.name for p in job_modules()}
    assert {"orders", "products", "inventory", "fulfillments"} <= names


@pytest.mark.parametrize("path", job_modules(), ids=lambda p: p.parent.name)
def test_a_job_does_not_import_another_job(path: Path) -> None:
    """What two jobs share (link kinds, timestamps, location resolution) lives in its own
    module, so a change inside one job cannot break another."""
    own = module_name(path)
    others = {module_name(p) for p in job_modules()} - {own}
    bad = sorted(imports(path) & others)
    assert not bad, f"{own} imports {bad}: move what they share into a module of its own"


def absolute_imports(source: str, package: str) -> set[str]:
    """Every module `source` imports at any depth, relative imports resolved against
    `package` (the dotted package the file lives in)."""
    parts = package.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            if not node.module:  # `from . import x`: x may be a module of the package
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def package_of(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).parent.parts)


SANDBOX = PACKAGE / "sandbox"


@pytest.mark.parametrize(
    "path", sorted(SANDBOX.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_sandboxes_import_nothing_of_the_product(path: Path) -> None:
    """The sandboxes stand in for the real APIs: written from the APIs' contracts, never from
    the product's constants or helpers, so a product bug cannot hide in a matching sandbox."""
    found = absolute_imports(path.read_text(encoding="utf-8"), package_of(path))
    product = sorted(
        name
        for name in found
        if (name == "syncer" or name.startswith("syncer."))
        and not (name == "syncer.sandbox" or name.startswith("syncer.sandbox."))
    )
    assert not product, f"{path.relative_to(PACKAGE)} imports {product}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("from syncer.money import cents", {"syncer.money"}, id="absolute"),
        pytest.param("import syncer.store as s", {"syncer.store"}, id="plain"),
        pytest.param(
            "from ...orders import credit",
            {"syncer.orders"},
            id="relative-out-of-the-sandbox",
        ),
        pytest.param(
            "from ... import store", {"syncer", "syncer.store"}, id="relative-bare-module"
        ),
        pytest.param(
            "def f():\n    from syncer.http import Http\n", {"syncer.http"}, id="lazy-in-function"
        ),
        pytest.param("from ..common import Reply", {"syncer.sandbox.common"}, id="inside-sandbox"),
    ],
)
def test_import_reader_sees_relative_and_lazy_imports(source: str, expected: set[str]) -> None:
    """The reader behind the rule above, as seen from a module of syncer.sandbox.shopify."""
    assert absolute_imports(source, "syncer.sandbox.shopify") == expected
