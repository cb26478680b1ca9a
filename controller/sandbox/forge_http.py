"""The sandbox forge's HTTP layer: authentication, rate limits, ETags, pages and faults.

What a GitHub client sees around every body lives here, so the endpoints stay plain:
`token sandbox-<login>` authenticates, 304 answers to `If-None-Match` do not count
against the hourly limit, lists come in pages with `Link` headers, and tests can make
the next requests fail the ways GitHub does. A failure inside an endpoint becomes a 500
and a log line; the server itself must never stop because of a request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from controller.sandbox import forge_git
from controller.sandbox.forge_api import DOCS, ApiError, ForgeApi, Paged, Request

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(
    r"(?:token|bearer)\s+sandbox-([A-Za-z0-9][A-Za-z0-9_.\[\]-]*)", re.IGNORECASE
)
FAULT_KINDS = ("500", "502", "secondary", "429", "hang")
# Cached GET answers; a poller needs a few dozen, so a full cache is simply emptied.
ANSWERS_KEPT = 1024
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


class RateLimiter:
    """GitHub's primary limit: a budget per token per hour, counted by the server."""

    def __init__(self, limit: int):
        self.limit = limit
        self.lock = threading.Lock()
        self.windows: dict[str, tuple[int, int]] = {}  # login -> (used, reset epoch)
        self.counted = 0

    def _window(self, login: str) -> tuple[int, int]:
        used, reset = self.windows.get(login, (0, 0))
        if time.time() >= reset:
            used, reset = 0, int(time.time()) + 3600
            self.windows[login] = (used, reset)
        return used, reset

    def exhausted(self, login: str) -> bool:
        with self.lock:
            return self._window(login)[0] >= self.limit

    def count(self, login: str) -> None:
        with self.lock:
            used, reset = self._window(login)
            self.windows[login] = (used + 1, reset)
            self.counted += 1

    def snapshot(self, login: str) -> dict[str, int]:
        with self.lock:
            used, reset = self._window(login)
        return {
            "limit": self.limit,
            "used": used,
            "remaining": max(0, self.limit - used),
            "reset": reset,
        }

    def headers(self, login: str) -> dict[str, str]:
        state = self.snapshot(login)
        return {
            "X-RateLimit-Limit": str(state["limit"]),
            "X-RateLimit-Remaining": str(state["remaining"]),
            "X-RateLimit-Reset": str(state["reset"]),
            "X-RateLimit-Used": str(state["used"]),
            "X-RateLimit-Resource": "core",
        }

    def overview(self, login: str) -> dict[str, Any]:
        core = self.snapshot(login)
        idle = {"limit": 0, "used": 0, "remaining": 0, "reset": core["reset"]}
        resources = {
            "core": core,
            "search": {**idle, "limit": 30, "remaining": 30},
            "graphql": {**idle, "limit": 5000, "remaining": 5000},
        }
        return {"resources": resources, "rate": core}


class Faults:
    """Failures queued by a test; each request takes the next one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queue: deque[tuple[str, float]] = deque()

    def inject(self, kind: str, count: int, hang_s: float) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        with self.lock:
            self.queue.extend([(kind, hang_s)] * count)
        log.info("queued %d %s faults", count, kind)

    def take(self) -> tuple[str, float] | None:
        with self.lock:
            return self.queue.popleft() if self.queue else None


class ForgeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        api: ForgeApi | None,
        limiter: RateLimiter,
        faults: Faults,
        stopping: threading.Event,
    ):
        super().__init__(address, ForgeHandler)
        self.api = api
        self.limiter = limiter
        self.faults = faults
        self.stopping = stopping
        self.requests = 0
        self.counter_lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        # (path, query, login) -> ((store version, refs stamp), (status, payload, headers))
        self.answers: dict[tuple, tuple[tuple, tuple[int, bytes | None, dict[str, str]]]] = {}

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def drop_connections(self) -> None:
        """Close kept-alive connections, so no client talks to a stopped forge."""
        with self.counter_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    wanted = etag.removeprefix("W/")
    return any(
        tag.strip() == "*" or tag.strip().removeprefix("W/") == wanted for tag in header.split(",")
    )


class ForgeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SandboxForge/1.0"
    # Headers and body go out in separate writes; with Nagle's algorithm the body waits
    # for the client's delayed ACK, about 40 ms per request on loopback.
    disable_nagle_algorithm = True
    server: ForgeServer

    def setup(self) -> None:
        super().setup()
        with self.server.counter_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.counter_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _send(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        payload: bytes | None = None,
    ) -> None:
        if payload is None:
            payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if status != 304:
            self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-GitHub-Request-Id", uuid.uuid4().hex[:16].upper())
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:
            log.exception("failed to answer %s %s", self.command, self.path)
            try:
                self._send(
                    500,
                    {
                        "message": f"Internal error in the sandbox forge: {error}",
                        "documentation_url": DOCS,
                    },
                )
            except OSError:
                self.close_connection = True

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw_body = self._read_body()
        if url.path.startswith("/_sandbox/"):
            self._control(url.path, raw_body)
            return
        server = self.server
        with server.counter_lock:
            server.requests += 1
        if self._fault():
            return

        match = TOKEN_PATTERN.fullmatch(self.headers.get("Authorization", "").strip())
        if not match:
            self._send(
                401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}
            )
            return
        login = match.group(1)
        limiter = server.limiter
        counts = url.path.rstrip("/") != "/rate_limit"
        if counts and limiter.exhausted(login):
            self._send(
                403,
                {
                    "message": f"API rate limit exceeded for user {login}.",
                    "documentation_url": DOCS,
                    "status": "403",
                },
                limiter.headers(login),
            )
            return

        if self.command == "GET" and counts:
            status, payload, headers = self._get(url.path, query, login)
        else:
            status, body, headers = self._dispatch(url.path, query, raw_body, login)
            payload = None if body is None else json.dumps(body).encode()
        etag = headers.get("ETag")
        if etag and _etag_matches(self.headers.get("If-None-Match"), etag):
            self._send(304, None, {**headers, **limiter.headers(login)})
            return
        if counts:
            limiter.count(login)
        self._send(status, None, {**headers, **limiter.headers(login)}, payload or b"")

    def _get(
        self, path: str, query: dict[str, str], login: str
    ) -> tuple[int, bytes | None, dict[str, str]]:
        """A GET answer, reused while the forge's records and branches stay as they were.

        A poller asks for the same pages every few seconds, and GitHub answers a matching
        `If-None-Match` without rebuilding anything; building the answer (filtering,
        sorting, rendering and hashing a thousand issues) is what made a 304 slow here.
        """
        server, api = self.server, self.server.api
        key = (path, tuple(sorted(query.items())), login)
        with api.store.lock:
            refs = forge_git.refs_stamp(api.git_dir)
            cached = server.answers.get(key)
            if cached is not None and cached[0] == (api.store.version, refs):
                return cached[1]
            status, body, headers = self._dispatch(path, query, b"", login)
            # After the call: reading may itself save (a pull request following a push).
            stamp = (api.store.version, refs)
        payload = None if body is None else json.dumps(body).encode()
        if status == 200:
            headers["ETag"] = f'W/"{hashlib.sha256(payload).hexdigest()}"'
        answer = (status, payload, headers)
        with server.counter_lock:
            if len(server.answers) >= ANSWERS_KEPT:
                server.answers.clear()
            server.answers[key] = (stamp, answer)
        return answer

    def _dispatch(
        self, path: str, query: dict[str, str], raw_body: bytes, login: str
    ) -> tuple[int, Any, dict[str, str]]:
        if path.rstrip("/") == "/rate_limit" and self.command == "GET":
            return 200, self.server.limiter.overview(login), {}
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return (
                400,
                {"message": "Problems parsing JSON", "documentation_url": DOCS, "status": "400"},
                {},
            )
        request = Request(self.command, path, query, body, login)
        try:
            status, result = self.server.api.dispatch(request)
        except ApiError as error:
            return error.status, error.body, {}
        headers: dict[str, str] = {}
        if isinstance(result, Paged):
            result, headers = self._page(path, query, result)
        if status == 201 and isinstance(result, dict) and "url" in result:
            headers["Location"] = result["url"]
        return status, result, headers

    def _page(self, path: str, query: dict[str, str], paged: Paged) -> tuple[Any, dict[str, str]]:
        def number(name: str, default: int) -> int:
            try:
                return int(query.get(name, default))
            except ValueError:
                return default

        per_page = min(100, max(1, number("per_page", 30)))
        page = max(1, number("page", 1))
        total = len(paged.items)
        last = max(1, math.ceil(total / per_page))
        items = paged.items[(page - 1) * per_page : page * per_page]
        if paged.render:
            items = [paged.render(item) for item in items]
        links = []

        def link(target: int, rel: str) -> None:
            target_query = urlencode({**query, "page": str(target)})
            links.append(f'<{self.server.base_url}{path}?{target_query}>; rel="{rel}"')

        if page > 1:
            link(min(page - 1, last), "prev")
        if page < last:
            link(page + 1, "next")
            link(last, "last")
        if page > 1:
            link(1, "first")
        headers = {"Link": ", ".join(links)} if links else {}
        if paged.key:
            return {"total_count": total, paged.key: items}, headers
        return items, headers

    def _fault(self) -> bool:
        fault = self.server.faults.take()
        if fault is None:
            return False
        kind, hang_s = fault
        log.info("served an injected %s fault for %s %s", kind, self.command, self.path)
        if kind == "hang":
            self.server.stopping.wait(hang_s)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        elif kind == "500":
            self._send(500, {"message": "Server Error"})
        elif kind == "502":
            self._send(502, {"message": "Server Error"})
        else:
            self._send(
                403 if kind == "secondary" else 429,
                {
                    "message": SECONDARY_MESSAGE,
                    "documentation_url": "https://docs.github.com/rest/overview/"
                    "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                },
                {"Retry-After": "1"},
            )
        return True

    def _control(self, path: str, raw_body: bytes) -> None:
        """The sandbox's own endpoints, for tests that run the forge in another process."""
        if path == "/_sandbox/faults" and self.command == "POST":
            try:
                spec = json.loads(raw_body)
                self.server.faults.inject(
                    str(spec["kind"]), int(spec.get("count", 1)), float(spec.get("seconds", 30))
                )
            except (ValueError, KeyError, TypeError) as error:
                self._send(
                    422,
                    {
                        "message": f"bad fault request: {error}; send JSON like "
                        '{"kind": "500", "count": 2}'
                    },
                )
                return
            self._send(204, None)
        elif path == "/_sandbox/stats" and self.command == "GET":
            self._send(
                200,
                {
                    "request_count": self.server.requests,
                    "counted_count": self.server.limiter.counted,
                },
            )
        else:
            self._send(404, {"message": "Not Found"})
