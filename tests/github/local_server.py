"""A tiny HTTP/1.1 server on loopback that answers from a table, for the adapter's tests.

It keeps connections alive like GitHub does, counts the TCP connections it accepted, and
records every request, so tests can see what the adapter really sent. Answers come from
recorded real GitHub exchanges or from small functions a test writes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_s: float = 0.0


Route = Callable[[Seen], Answer]


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route | Answer | list] = {}
        self.seen: list[Seen] = []
        self.connections = 0
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                seen = Seen(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                server.seen.append(seen)
                answer = server._route(seen)
                if answer.hang_s:
                    server._release.wait(answer.hang_s)
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                headers = {"content-type": "application/json; charset=utf-8", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value.replace("{base}", server.url))
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _route(self, seen: Seen) -> Answer:
        route = self.routes.get((seen.method, seen.target)) or self.routes.get(
            (seen.method, seen.path)
        )
        if route is None:
            return Answer(404, {"message": "Not Found"})
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        return route if isinstance(route, Answer) else route(seen)

    def replay(self, fixture: str, base: str = "https://api.github.com") -> None:
        """Serve each recorded exchange of a fixture file at its recorded path."""
        for exchange in json.loads((FIXTURES / fixture).read_text()):
            headers = {k: v.replace(base, "{base}") for k, v in exchange["headers"].items()}
            answer = Answer(exchange["status"], exchange["body"], headers)
            self.routes[(exchange["method"], exchange["path"])] = answer
            # The adapter asks the first page with its own query; later pages by the
            # recorded Link, so only the bare path of a first page needs a second key.
            self.routes.setdefault((exchange["method"], urlsplit(exchange["path"]).path), answer)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())
