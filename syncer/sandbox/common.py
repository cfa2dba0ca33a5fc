"""What both sandboxes share: a threaded HTTP server on 127.0.0.1, a request log, and fault
injection driven from Python or over HTTP (`/_control/...`).

A sandbox application implements `SandboxApp`: `handle(request) -> Reply`, plus optional
`describe(request)` (a text faults are matched against, e.g. "POST /SalesOrders/..." or a
GraphQL operation name), `throttled_reply()` (the API's own "throttled" answer) and
`control(path, body)` for app-specific control calls such as reading what was written.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

FAULT_KINDS = ("status", "throttle", "slow", "drop", "lost_reply")


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str  # raw query string as sent (still percent-encoded), no "?"
    headers: dict[str, str]  # header names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, default=str).encode("utf-8")


@dataclass
class Fault:
    """One injected failure. `match` is a substring of the request's description; `count`
    is how many matching requests it hits (then it is used up)."""

    kind: str
    match: str = ""
    count: int = 1
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    description: str
    status: int
    fault: str | None
    at: float
    body: str = ""


class SandboxApp(Protocol):
    name: str

    def handle(self, request: Request) -> Reply: ...


class FaultInjector:
    """Thread-safe queue of faults, consumed by matching requests in order."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.injected: list[tuple[str, str]] = []  # (kind, description) of each fault that fired

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, description: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.match in description:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    self.injected.append((fault.kind, description))
                    return fault
        return None


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-reply (a timeout, a killed syncer) is normal here; say
    nothing instead of printing a traceback from the server thread."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Serve a `SandboxApp` on 127.0.0.1 in a background thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.faults = FaultInjector()
        self.log: list[Recorded] = []
        self._log_lock = threading.Lock()
        self.record_bodies = True
        self._httpd = _QuietServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        # Requests being handled right now: a client that died or gave up leaves its last
        # request running here, and a test waits for it before it looks at the result.
        self._busy = 0
        self._idle = threading.Condition()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"sandbox-{self.app.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self, contains: str = "") -> list[Recorded]:
        with self._log_lock:
            return [r for r in self.log if contains in r.description]

    def clear_log(self) -> None:
        with self._log_lock:
            self.log.clear()

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until no request is being handled; False if one still is after `timeout`."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    # -- internals -------------------------------------------------------------------------

    def _record(self, request: Request, description: str, status: int, fault: str | None) -> None:
        body = request.body.decode("utf-8", "replace") if self.record_bodies else ""
        with self._log_lock:
            self.log.append(
                Recorded(
                    request.method,
                    request.path,
                    request.query,
                    description,
                    status,
                    fault,
                    time.time(),
                    body,
                )
            )

    def _control(self, request: Request) -> Reply:
        path = request.path[len("/_control") :]
        body = request.json() if request.body else {}
        if path == "/faults" and request.method == "POST":
            items = body if isinstance(body, list) else [body]
            for item in items:
                self.faults.add(Fault(**item))
            return Reply(200, {"faults": [asdict(f) for f in self.faults.pending()]})
        if path == "/faults" and request.method == "DELETE":
            self.faults.clear()
            return Reply(200, {"faults": []})
        if path == "/faults":
            return Reply(
                200,
                {
                    "pending": [asdict(f) for f in self.faults.pending()],
                    "injected": self.faults.injected,
                },
            )
        if path == "/requests":
            with self._log_lock:
                return Reply(200, {"requests": [asdict(r) for r in self.log]})
        control = getattr(self.app, "control", None)
        if control is not None:
            return control(request.method, path, body)
        return Reply(404, {"error": f"unknown control path {path}"})

    def dispatch(self, request: Request) -> tuple[Reply | None, str | None]:
        """Return the reply (None: close the connection without one) and the fault applied."""
        with self._idle:
            self._busy += 1
        try:
            return self._dispatch(request)
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _dispatch(self, request: Request) -> tuple[Reply | None, str | None]:
        if request.path.startswith("/_control"):
            return self._control(request), None
        describe = getattr(self.app, "describe", None)
        description = describe(request) if describe else f"{request.method} {request.path}"
        fault = self.faults.take(description)
        kind = fault.kind if fault else None
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault and fault.kind == "drop":
            self._record(request, description, 0, kind)
            return None, kind
        if fault and fault.kind == "status":
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            reply = Reply(fault.status, {"Message": "Injected fault"}, headers)
            self._record(request, description, reply.status, kind)
            return reply, kind
        if fault and fault.kind == "throttle":
            throttled = getattr(self.app, "throttled_reply", None)
            reply = throttled() if throttled else Reply(429, {"Message": "Too many requests"})
            if fault.retry_after is not None:
                reply.headers["Retry-After"] = f"{fault.retry_after:g}"
            self._record(request, description, reply.status, kind)
            return reply, kind
        try:
            reply = self.app.handle(request)
        except Exception as exc:  # a sandbox bug must show as a 500, not kill the thread
            reply = Reply(500, {"Message": f"sandbox error: {type(exc).__name__}: {exc}"})
        self._record(request, description, reply.status, kind)
        if fault and fault.kind == "lost_reply":
            return None, kind  # applied, but the client never hears back
        return reply, kind

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
            # client's delayed ACK add ~40 ms to every reply on a keep-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(
                    method=self.command,
                    path=split.path,
                    query=split.query,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply, _ = server.dispatch(request)
                if reply is None:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                payload = reply.encode()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler
