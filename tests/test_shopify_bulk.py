"""Bulk query operations: the sandbox's rules and JSONL, and the client over real sockets."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import requests
from graphql import FieldNode, parse, print_ast

from syncer.connectors import shopify_documents as docs
from syncer.connectors.shopify import ShopifyClient
from syncer.connectors.shopify_bulk import nest_bulk_objects
from syncer.connectors.shopify_cost import fit_size
from syncer.errors import CredentialsError, DataError, RetryLater
from syncer.http import CallCounter, Redactor, RetryPolicy
from syncer.sandbox.common import Fault, SandboxServer
from syncer.sandbox.seed import make_world
from syncer.sandbox.shopify import ShopifySandbox
from syncer.sandbox.shopify import bulk as shopify_bulk

POLICY = RetryPolicy(base_delay=0.05, max_delay=0.5, read_timeout=10.0)

PRODUCTS_WITH_VARIANTS = """
{ products { edges { node { id title variants { edges { node { id sku } } } } } } }
"""


@pytest.fixture
def sandbox() -> Any:
    app = ShopifySandbox()
    app.set_bulk(delay=0.05)
    with SandboxServer(app) as server:
        yield app, server


class FakeClock:
    """Steady seconds that move only when someone sleeps: the sandbox's bulk operations read
    it, the client's waits advance it, so progress depends on waits, never on wall time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_client(server: SandboxServer, clock: FakeClock | None = None) -> ShopifyClient:
    return ShopifyClient(
        server.url,
        "2026-10",
        access_token="shpat_sandbox",
        counter=CallCounter(),
        redactor=Redactor(),
        policy=POLICY,
        **({"sleep": clock.sleep} if clock is not None else {}),
    )


def kinds(client: ShopifyClient) -> dict[str, int]:
    return {kind: n for (_, kind), n in client.http.counter.kinds.items()}


# -- the sandbox's bulk rules ----------------------------------------------------------------

_SIX = " ".join(f"p{i}: products {{ edges {{ node {{ id }} }} }}" for i in range(6))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("{ shop { id name } }", "at least one connection", id="no-connection"),
        pytest.param(
            "{ products { edges { node { id variants { edges { node { id inventoryItem {"
            " inventoryLevels { edges { node { id } } } } } } } } } } }",
            "nesting depth greater than 2",
            id="three-deep",
        ),
        pytest.param("{ " + _SIX + " }", "more than 5 connections", id="six-connections"),
        pytest.param(
            '{ nodes(ids: ["gid://shopify/Product/1"]) { id } }', "node and nodes", id="nodes"
        ),
        pytest.param(
            "{ products { edges { node { nope } } } }", "Cannot query field", id="unknown"
        ),
        pytest.param(
            "query Q($q: String) { products(query: $q) { edges { node { id } } } }",
            "variables",
            id="variables",
        ),
        pytest.param("{ products { edges { node { id }", "Invalid bulk query", id="unparsable"),
    ],
)
def test_an_invalid_bulk_query_is_refused_with_an_invalid_user_error(
    sandbox: Any, query: str, message: str
) -> None:
    app, server = sandbox
    client = make_client(server)
    with pytest.raises(DataError, match="bulk query was rejected") as caught:
        list(client.bulk_query(query, kind="test"))
    [error] = caught.value.errors
    assert error["code"] == "INVALID"
    assert error["field"] == ["query"]
    assert message in error["message"]
    assert app.bulk_operations == {}


@pytest.mark.parametrize(
    "name", ["BULK_VARIANTS", "BULK_INVENTORY_LEVELS"], ids=["variants", "levels"]
)
def test_the_clients_bulk_queries_pass_the_bulk_rules(name: str) -> None:
    shopify_bulk.check_query(ShopifySandbox().schema, getattr(docs, name))


def test_bulk_variants_selects_exactly_the_variant_fields() -> None:
    """A bulk line must project like a node of VARIANTS, so the selections must match."""

    def selection(document: str, path: list[str]) -> str:
        node: Any = parse(document).definitions[0]
        for name in path:
            node = next(
                f
                for f in node.selection_set.selections
                if isinstance(f, FieldNode) and f.name.value == name
            )
        return print_ast(node.selection_set)

    fragment = parse(docs.VARIANTS).definitions[1]
    assert print_ast(fragment.selection_set) == selection(
        docs.BULK_VARIANTS, ["productVariants", "edges", "node"]
    )


# -- JSONL and polling -----------------------------------------------------------------------


def test_nested_connection_nodes_follow_their_parent_with_parent_id(sandbox: Any) -> None:
    app, server = sandbox
    client = make_client(server)
    lines = list(client.bulk_query(PRODUCTS_WITH_VARIANTS, kind="test"))
    assert len(lines) == len(app.products) + len(app.variants)
    parent = None
    for line in lines:
        if line["id"].startswith("gid://shopify/Product/"):
            assert "__parentId" not in line
            assert "variants" not in line
            parent = line["id"]
        else:
            assert line["__parentId"] == parent  # children come right after their parent
    tree = nest_bulk_objects(lines)
    assert {p["id"]: len(p.get("__children", [])) for p in tree} == {
        p.id: len(p.variants) for p in app.products.values()
    }


def test_status_moves_from_created_through_running_to_completed(sandbox: Any) -> None:
    app, server = sandbox
    clock = FakeClock()
    app.set_bulk(delay=1.0, clock=clock)
    client = make_client(server)
    started = client.execute(
        docs.BULK_OPERATION_RUN_QUERY, {"query": docs.BULK_VARIANTS}, kind="bulk.start"
    )["bulkOperationRunQuery"]["bulkOperation"]
    assert (started["status"], started["url"]) == ("CREATED", None)
    seen = []
    for step in (0.125, 0.375, 0.25, 0.25):  # 0.125 s, 0.5 s, 0.75 s, 1 s after it started
        clock.sleep(step)
        node = client.execute(docs.BULK_OPERATION, {"id": started["id"]}, kind="bulk.poll")["node"]
        seen.append((node["status"], node["url"]))
    assert seen == [("CREATED", None), ("RUNNING", None), ("RUNNING", None), seen[-1]]
    assert seen[-1][0] == "COMPLETED"
    current = client.execute(docs.CURRENT_BULK_OPERATION, kind="bulk.poll")["currentBulkOperation"]
    assert current["id"] == started["id"]
    assert int(current["objectCount"]) == int(current["rootObjectCount"]) == len(app.variants)
    assert current["url"].startswith(server.url + "/_bulk/")
    assert current["completedAt"]
    assert current["errorCode"] is None


@pytest.mark.parametrize(
    ("delay", "polls"),
    [
        pytest.param(0.1, 1, id="done-at-the-first-poll"),
        pytest.param(0.5, 2, id="polled-at-0.2s-and-0.6s"),
        pytest.param(3.0, 4, id="polled-at-0.2s-0.6s-1.4s-3.0s"),
    ],
)
def test_the_client_polls_until_completed_and_counts_every_request(
    sandbox: Any, delay: float, polls: int
) -> None:
    app, server = sandbox
    clock = FakeClock()
    app.set_bulk(delay=delay, clock=clock)
    client = make_client(server, clock)  # waits of 0.2 s, doubling, move the clock
    variants = list(client.bulk_variants())
    assert sorted(v["sku"] for v in variants) == sorted(app.by_sku)
    counts = kinds(client)
    assert counts["bulk.start"] == 1
    assert counts["bulk.download"] == 1
    assert counts["bulk.poll"] == polls
    assert len(server.requests("GET /_bulk/")) == 1


def test_a_query_that_matches_nothing_completes_without_a_file(sandbox: Any) -> None:
    _, server = sandbox
    client = make_client(server)
    query = '{ productVariants(query: "sku:NO-SUCH-SKU") { edges { node { id } } } }'
    assert list(client.bulk_query(query, kind="test")) == []
    assert "bulk.download" not in kinds(client)


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "error"),
    [
        pytest.param("INTERNAL_SERVER_ERROR", RetryLater, id="internal"),
        pytest.param("TIMEOUT", RetryLater, id="timeout"),
        pytest.param("ACCESS_DENIED", CredentialsError, id="access-denied"),
    ],
)
def test_a_failed_operation_raises_with_its_error_code(
    sandbox: Any, code: str, error: type[Exception]
) -> None:
    app, server = sandbox
    app.set_bulk(fail_next=code)
    client = make_client(server)
    with pytest.raises(error, match=f"ended FAILED with {code}"):
        list(client.bulk_variants())
    [op] = app.bulk_operations.values()
    assert op.partial_data_url is not None  # Shopify keeps what it read before failing
    assert "bulk.download" not in kinds(client)


def test_limit_reached_is_retried_until_a_slot_frees(sandbox: Any) -> None:
    app, server = sandbox
    app.set_bulk(limit=1, delay=0.3)
    client = make_client(server)
    first = client.execute(
        docs.BULK_OPERATION_RUN_QUERY, {"query": docs.BULK_VARIANTS}, kind="bulk.start"
    )["bulkOperationRunQuery"]
    assert first["userErrors"] == []
    variants = list(client.bulk_variants())
    assert len(variants) == len(app.variants)
    assert kinds(client)["bulk.start"] >= 3  # the manual start, a refusal, the retry


def test_limit_reached_for_good_becomes_retry_later(sandbox: Any) -> None:
    app, server = sandbox
    app.set_bulk(limit=0)
    client = make_client(server)
    with pytest.raises(RetryLater, match="maximum of 0 bulk query operations"):
        list(client.bulk_variants())
    assert kinds(client)["bulk.start"] == POLICY.max_attempts


def test_an_operation_still_running_after_the_timeout_is_retry_later(sandbox: Any) -> None:
    app, server = sandbox
    app.set_bulk(delay=30)
    client = make_client(server)
    with pytest.raises(RetryLater, match=r"still (CREATED|RUNNING)"):
        list(client.bulk_query(docs.BULK_VARIANTS, kind="test", timeout=0.5))


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([Fault("status", match="graphql.json node", status=503)], id="poll-503"),
        pytest.param([Fault("drop", match="graphql.json node")], id="poll-dropped"),
        pytest.param([Fault("status", match="GET /_bulk/", status=500)], id="download-500"),
        pytest.param([Fault("drop", match="GET /_bulk/", count=2)], id="download-dropped"),
        pytest.param([Fault("throttle", match="bulkOperationRunQuery")], id="start-throttled"),
    ],
)
def test_faults_on_start_poll_and_download_are_retried(sandbox: Any, faults: list[Fault]) -> None:
    app, server = sandbox
    for fault in faults:
        server.faults.add(fault)
    client = make_client(server)
    variants = list(client.bulk_variants())
    assert len(variants) == len(app.variants)
    assert server.faults.pending() == []
    downloads = len(server.requests("GET /_bulk/"))
    assert kinds(client)["bulk.download"] == downloads  # every attempt went through HttpClient


def test_a_refused_result_url_is_retry_later_not_a_credentials_error(sandbox: Any) -> None:
    """The file URL is signed like Shopify's; once refused (expired, or signed wrongly) the
    run must be retried later, not blamed on the Shopify keys."""
    app, server = sandbox
    client = make_client(server)
    list(client.bulk_variants())
    [op] = app.bulk_operations.values()
    unsigned = op.url.split("?")[0]
    assert requests.get(unsigned, timeout=5).status_code == 403
    with pytest.raises(RetryLater, match="result file was refused"):
        list(client._bulk_objects(unsigned + "?sig=wrong", "test"))


def test_inventory_levels_by_bulk_match_the_sandbox(sandbox: Any) -> None:
    app, server = sandbox
    client = make_client(server)
    main = app.location("MAIN")
    levels = list(client.bulk_inventory_levels([main.id]))
    assert len(levels) == len(main.levels)
    for level in levels:
        assert level["location"]["id"] == level["__parentId"] == main.id
        sku = level["item"]["sku"]
        assert level["available"] == app.quantities(sku, "MAIN")["available"]


# -- scale -----------------------------------------------------------------------------------


def test_ten_thousand_variants_stream_in_a_handful_of_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = ShopifySandbox(make_world(1, products=5000, orders=0), drift=False)
    with SandboxServer(app) as server:
        client = make_client(server)
        started = time.monotonic()
        count = sum(1 for _ in client.bulk_variants())
        elapsed = time.monotonic() - started
    assert count == len(app.variants) >= 10_000
    requests = client.http.counter.total("shopify")
    assert requests <= 5
    page = fit_size(docs.VARIANTS, {"query": None}, "first", 250)
    with capsys.disabled():
        print(  # noqa: T201 - the brief asks for the measured request counts
            f"\nbulk: {count} variants in {requests} requests ({kinds(client)}), "
            f"{elapsed:.1f}s; paging would take {math.ceil(count / page)} requests"
        )
