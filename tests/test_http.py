"""The HTTP choke point against a real local server: retries, Retry-After, the retry-safety
rule, error mapping, call counting and redaction."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests

from syncer.errors import (
    ApiError,
    CredentialsError,
    DataError,
    NotFound,
    OutcomeUnknown,
    RetryLater,
)
from syncer.http import CallCounter, HttpClient, Redactor, RetryPolicy, parse_retry_after
from syncer.sandbox.common import Fault, Reply, Request, SandboxServer

SECRET = "s3cr3t-token-abcdef"


class ScriptedApp:
    """Answers each path with its queued replies in turn, then 200 {"ok": true}."""

    name = "scripted"

    def __init__(self) -> None:
        self.script: dict[str, list[Reply]] = {}
        self.seen_headers: list[dict[str, str]] = []

    def queue(self, path: str, *replies: Reply) -> None:
        self.script.setdefault(path, []).extend(replies)

    def handle(self, request: Request) -> Reply:
        self.seen_headers.append(request.headers)
        queued = self.script.get(request.path)
        if queued:
            return queued.pop(0)
        return Reply(200, {"ok": True})


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    """One server for the module: stopping one takes half a second (serve_forever's poll)."""
    with SandboxServer(ScriptedApp()) as started:
        yield started


@pytest.fixture
def server(running: SandboxServer) -> SandboxServer:
    running.faults.clear()
    running.clear_log()
    app = running.app
    assert isinstance(app, ScriptedApp)
    app.script.clear()
    app.seen_headers.clear()
    return running


@pytest.fixture
def app(server: SandboxServer) -> ScriptedApp:
    assert isinstance(server.app, ScriptedApp)
    return server.app


class Sleeps(list[float]):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(sleeps: Sleeps) -> HttpClient:
    return HttpClient(
        "unleashed",
        counter=CallCounter(),
        redactor=Redactor([SECRET]),
        policy=RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=5.0, read_timeout=5.0),
        sleep=sleeps,
    )


def hits(server: SandboxServer, path: str) -> int:
    return len([r for r in server.requests() if r.path == path])


# -- retries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_safe",
    [pytest.param(True, id="safe-get"), pytest.param(False, id="unsafe-post-still-retried")],
)
def test_429_is_retried_after_retry_after(
    server: SandboxServer, app: ScriptedApp, client: HttpClient, sleeps: Sleeps, retry_safe: bool
) -> None:
    app.queue(
        "/x",
        Reply(429, {"Message": "slow down"}, {"Retry-After": "2"}),
        Reply(429, {"Message": "slow down"}, {"Retry-After": "0.5"}),
    )
    method = "GET" if retry_safe else "POST"
    response = client.request(method, f"{server.url}/x", kind="x.send", retry_safe=retry_safe)
    assert response.json() == {"ok": True}
    assert sleeps == [2.0, 0.5]
    assert hits(server, "/x") == 3


def test_retry_after_is_capped_by_max_delay(
    server: SandboxServer, app: ScriptedApp, client: HttpClient, sleeps: Sleeps
) -> None:
    app.queue("/x", Reply(429, {}, {"Retry-After": "3600"}))
    client.request("GET", f"{server.url}/x", kind="x", retry_safe=True)
    assert sleeps == [5.0]


def test_5xx_backs_off_exponentially_for_retry_safe_requests(
    server: SandboxServer, app: ScriptedApp, client: HttpClient, sleeps: Sleeps
) -> None:
    app.queue("/x", Reply(503, {"Message": "busy"}), Reply(502, "bad gateway"))
    response = client.request("GET", f"{server.url}/x", kind="x", retry_safe=True)
    assert response.status_code == 200
    assert len(sleeps) == 2
    # Full jitter in [ceiling/2, ceiling] with ceiling 0.1 * 2**(attempt-1).
    assert 0.05 <= sleeps[0] <= 0.1
    assert 0.1 <= sleeps[1] <= 0.2


def test_retry_later_after_max_attempts(
    server: SandboxServer, app: ScriptedApp, client: HttpClient, sleeps: Sleeps
) -> None:
    app.queue("/x", *[Reply(500, {"Message": "down"}) for _ in range(5)])
    with pytest.raises(RetryLater) as caught:
        client.request("GET", f"{server.url}/x", kind="items.list", retry_safe=True)
    assert hits(server, "/x") == 3
    assert len(sleeps) == 2
    assert str(caught.value) == (
        "unleashed did not answer items.list after 3 attempts (HTTP 500: down); "
        "nothing was lost: run again later"
    )
    assert caught.value.exit_code == 3


def test_429_forever_on_an_unsafe_request_ends_in_retry_later(
    server: SandboxServer, app: ScriptedApp, client: HttpClient
) -> None:
    app.queue("/x", *[Reply(429, {}, {"Retry-After": "0"}) for _ in range(3)])
    with pytest.raises(RetryLater):
        client.request("POST", f"{server.url}/x", kind="x", retry_safe=False)
    assert hits(server, "/x") == 3


def test_unsafe_post_with_503_is_outcome_unknown(
    server: SandboxServer, app: ScriptedApp, client: HttpClient, sleeps: Sleeps
) -> None:
    app.queue("/orders", Reply(503, {"Message": "maybe"}))
    with pytest.raises(OutcomeUnknown) as caught:
        client.request("POST", f"{server.url}/orders", kind="orders.create", retry_safe=False)
    assert hits(server, "/orders") == 1
    assert sleeps == []
    assert str(caught.value).startswith(
        "unleashed orders.create: the request may have been applied but no reply came (HTTP 503"
    )


def test_unsafe_post_with_dropped_connection_is_outcome_unknown(
    server: SandboxServer, client: HttpClient
) -> None:
    server.faults.add(Fault("drop", match="POST /orders"))
    with pytest.raises(OutcomeUnknown):
        client.request("POST", f"{server.url}/orders", kind="orders.create", retry_safe=False)
    assert hits(server, "/orders") == 1


@pytest.mark.parametrize(
    ("reply", "fault", "status", "replied"),
    [
        pytest.param(Reply(500, {"Message": "boom"}), None, 500, True, id="500-replied"),
        pytest.param(Reply(502, {"Message": "gateway"}), None, 502, True, id="502-replied"),
        pytest.param(Reply(504, {"Message": "gateway"}), None, 504, True, id="504-replied"),
        pytest.param(None, "drop", None, False, id="dropped-no-reply"),
        pytest.param(None, "lost_reply", None, False, id="lost-reply-no-reply"),
    ],
)
def test_outcome_unknown_says_whether_the_server_replied(
    server: SandboxServer,
    app: ScriptedApp,
    client: HttpClient,
    reply: Reply | None,
    fault: str | None,
    status: int | None,
    replied: bool,
) -> None:
    """A reply means the server is done with the request; none means it may still run."""
    if reply is not None:
        app.queue("/orders", reply)
    if fault is not None:
        server.faults.add(Fault(fault, match="POST /orders"))
    with pytest.raises(OutcomeUnknown) as caught:
        client.request("POST", f"{server.url}/orders", kind="orders.create", retry_safe=False)
    assert (caught.value.status, caught.value.replied) == (status, replied)


def test_read_timeout_of_an_unsafe_write_is_outcome_unknown_without_a_reply(
    server: SandboxServer, sleeps: Sleeps
) -> None:
    server.faults.add(Fault("slow", match="POST /orders", delay=0.5))
    client = HttpClient("unleashed", policy=RetryPolicy(read_timeout=0.1), sleep=sleeps)
    with pytest.raises(OutcomeUnknown) as caught:
        client.request("POST", f"{server.url}/orders", kind="orders.create", retry_safe=False)
    assert (caught.value.status, caught.value.replied) == (None, False)
    assert server.wait_idle()


def test_lost_reply_after_the_write_is_outcome_unknown(
    server: SandboxServer, client: HttpClient
) -> None:
    server.faults.add(Fault("lost_reply", match="POST /orders"))
    with pytest.raises(OutcomeUnknown):
        client.request("POST", f"{server.url}/orders", kind="orders.create", retry_safe=False)
    assert [r.status for r in server.requests()] == [200]  # applied, reply never arrived


def test_safe_request_with_dropped_connection_is_retried(
    server: SandboxServer, client: HttpClient, sleeps: Sleeps
) -> None:
    server.faults.add(Fault("drop", match="GET /x"))
    response = client.request("GET", f"{server.url}/x", kind="x", retry_safe=True)
    assert response.json() == {"ok": True}
    assert hits(server, "/x") == 2
    assert len(sleeps) == 1


def test_connection_refused_is_retried_even_for_unsafe_requests(
    client: HttpClient, sleeps: Sleeps
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryLater) as caught:
        client.request("POST", f"http://127.0.0.1:{port}/x", kind="x", retry_safe=False)
    assert len(sleeps) == 2
    assert client.counter.total("unleashed") == 3
    assert "after 3 attempts" in str(caught.value)


def test_classify_retries_a_throttled_200(
    server: SandboxServer, app: ScriptedApp, client: HttpClient, sleeps: Sleeps
) -> None:
    app.queue("/graphql", Reply(200, {"errors": [{"extensions": {"code": "THROTTLED"}}]}))

    def classify(response: requests.Response) -> float | None:
        return 1.5 if "THROTTLED" in response.text else None

    response = client.request(
        "POST", f"{server.url}/graphql", kind="q", retry_safe=False, classify=classify
    )
    assert response.json() == {"ok": True}
    assert sleeps == [1.5]


def test_prepare_renews_headers_on_every_attempt(
    server: SandboxServer, app: ScriptedApp, client: HttpClient
) -> None:
    app.queue("/x", Reply(503, {}))
    tokens = iter(["t1", "t2"])
    client.request(
        "GET",
        f"{server.url}/x",
        kind="x",
        retry_safe=True,
        headers={"Accept": "application/json"},
        prepare=lambda: {"X-Token": next(tokens)},
    )
    assert [h["x-token"] for h in app.seen_headers] == ["t1", "t2"]
    assert all(h["accept"] == "application/json" for h in app.seen_headers)


# -- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "exit_code"),
    [
        pytest.param(401, CredentialsError, 3, id="401-credentials"),
        pytest.param(403, CredentialsError, 3, id="403-credentials"),
        pytest.param(400, DataError, 1, id="400-data"),
        pytest.param(422, DataError, 1, id="422-data"),
        pytest.param(404, NotFound, 1, id="404-not-found"),
    ],
)
def test_status_maps_to_error(
    server: SandboxServer,
    app: ScriptedApp,
    client: HttpClient,
    sleeps: Sleeps,
    status: int,
    error: type[ApiError],
    exit_code: int,
) -> None:
    app.queue("/x", Reply(status, {"Description": "Product code X1 not found"}))
    with pytest.raises(error) as caught:
        client.request("GET", f"{server.url}/x", kind="x.get", retry_safe=True)
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.api == "unleashed"
    assert caught.value.exit_code == exit_code
    assert sleeps == []  # never retried
    assert hits(server, "/x") == 1


def test_400_message_carries_the_description(
    server: SandboxServer, app: ScriptedApp, client: HttpClient
) -> None:
    app.queue("/SalesOrders", Reply(400, {"Description": "Product code X1 not found"}))
    with pytest.raises(DataError) as caught:
        client.request("POST", f"{server.url}/SalesOrders", kind="orders.create", retry_safe=False)
    assert str(caught.value) == (
        "unleashed rejected orders.create (HTTP 400: Product code X1 not found)"
    )


def test_401_message_says_check_the_keys(
    server: SandboxServer, app: ScriptedApp, client: HttpClient
) -> None:
    app.queue("/x", Reply(403, {"Message": "bad signature"}))
    with pytest.raises(CredentialsError) as caught:
        client.request("GET", f"{server.url}/x", kind="x.get", retry_safe=True)
    assert str(caught.value) == (
        "unleashed refused the credentials for x.get (HTTP 403: bad signature); "
        "check the unleashed keys in the config"
    )


@pytest.mark.parametrize(
    ("reply", "fault", "error"),
    [
        pytest.param(Reply(400, {"Description": f"bad {SECRET}"}), None, DataError, id="400"),
        pytest.param(Reply(401, f"token {SECRET} refused"), None, CredentialsError, id="401"),
        pytest.param(Reply(404, {"Message": SECRET}), None, NotFound, id="404"),
        pytest.param(Reply(503, {"Message": SECRET}), None, OutcomeUnknown, id="503-unsafe"),
        pytest.param(None, "drop", OutcomeUnknown, id="dropped-connection"),
    ],
)
def test_secrets_are_redacted_from_error_messages(
    server: SandboxServer,
    app: ScriptedApp,
    client: HttpClient,
    reply: Reply | None,
    fault: str | None,
    error: type[ApiError],
) -> None:
    if reply is not None:
        app.queue("/x", reply)
    if fault is not None:
        server.faults.add(Fault(fault, match="/x"))
    url = f"{server.url}/x?token={SECRET}"
    with pytest.raises(error) as caught:
        client.request("POST", url, kind="x.send", retry_safe=False)
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.body
    assert SECRET not in repr(caught.value.args)


def test_secrets_are_redacted_from_retry_later(
    server: SandboxServer, app: ScriptedApp, client: HttpClient
) -> None:
    app.queue("/x", *[Reply(502, f"upstream said {SECRET}") for _ in range(3)])
    with pytest.raises(RetryLater) as caught:
        client.request("GET", f"{server.url}/x?key={SECRET}", kind="x", retry_safe=True)
    assert SECRET not in str(caught.value)
    assert "upstream said ***" in str(caught.value)


# -- counting and helpers ------------------------------------------------------------------------


def test_call_counter_counts_per_api_and_kind(
    server: SandboxServer, app: ScriptedApp, sleeps: Sleeps
) -> None:
    counter = CallCounter()
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    shopify = HttpClient("shopify", counter=counter, policy=policy, sleep=sleeps)
    unleashed = HttpClient("unleashed", counter=counter, policy=policy, sleep=sleeps)
    app.queue("/a", Reply(429, {}, {"Retry-After": "0"}))
    shopify.request("POST", f"{server.url}/a", kind="orders.list", retry_safe=True)
    shopify.request("POST", f"{server.url}/b", kind="products.list", retry_safe=True)
    unleashed.request("GET", f"{server.url}/c", kind="stock.list", retry_safe=True)
    assert counter.snapshot() == {"shopify": 3, "unleashed": 1}
    assert counter.total("shopify") == 3
    assert counter.total("nobody") == 0
    assert dict(counter.kinds) == {
        ("shopify", "orders.list"): 2,
        ("shopify", "products.list"): 1,
        ("unleashed", "stock.list"): 1,
    }


# -- the environment: read once per host, still honoured ---------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_http_proxy_from_the_environment_is_used(
    server: SandboxServer, client: HttpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    for _ in range(2):  # the second request reuses the settings read for the first
        response = client.request(
            "GET", "http://api.example.invalid/through-proxy", kind="x", retry_safe=True
        )
        assert response.json() == {"ok": True}
    assert hits(server, "/through-proxy") == 2


@pytest.mark.parametrize(
    ("no_proxy", "reaches_server"),
    [
        pytest.param("127.0.0.1", True, id="no-proxy-host-goes-direct"),
        pytest.param("elsewhere.example", False, id="other-hosts-go-through-the-dead-proxy"),
    ],
)
def test_no_proxy_from_the_environment_is_honoured(
    server: SandboxServer,
    client: HttpClient,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
    reaches_server: bool,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    if reaches_server:
        response = client.request("GET", f"{server.url}/direct", kind="x", retry_safe=True)
        assert response.json() == {"ok": True}
    else:
        with pytest.raises(RetryLater):
            client.request("GET", f"{server.url}/direct", kind="x", retry_safe=True)
    assert hits(server, "/direct") == (1 if reaches_server else 0)


def test_a_session_without_trust_env_ignores_the_environment(
    server: SandboxServer, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    session = requests.Session()
    session.trust_env = False
    client = HttpClient("unleashed", session=session, sleep=sleeps)
    assert client.request("GET", f"{server.url}/plain", kind="x", retry_safe=True).ok


def test_redactor_replaces_longest_first_and_ignores_short_values() -> None:
    redact = Redactor(["abcd", "abcdefgh", "xy", None])  # type: ignore[list-item]
    assert redact("key=abcdefgh id=abcd short=xy") == "key=*** id=*** short=xy"


NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("5", 5.0, id="seconds"),
        pytest.param(" 1.5 ", 1.5, id="fraction-with-spaces"),
        pytest.param("-3", 0.0, id="negative-clamped"),
        pytest.param("Thu, 26 Nov 2026 12:00:30 GMT", 30.0, id="http-date"),
        pytest.param(
            format_datetime(datetime(2026, 11, 26, 12, 2, tzinfo=UTC), usegmt=True),
            120.0,
            id="http-date-formatted",
        ),
        pytest.param("Thu, 26 Nov 2026 11:00:00 GMT", 0.0, id="http-date-in-past"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="missing"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected
