"""A stand-in for the Anthropic Messages API, so the real Claude Code CLI runs offline.

The demo's `--agent claude` and the tests drive the real client on its real screens;
only the model is scripted. Asked about an issue (`#N` in the newest user text), the
model answers with one Bash tool call that runs the scripted agent's `solve` in the
worktree; given that call's result, it answers with a short summary and ends the turn.
Anything else gets a short text answer, and the client's title request gets a JSON
title. Answers are standard server-sent events when the request streams, JSON when not.

It serves 127.0.0.1 only, keeps no state beyond a request log for tests, and must never
import the controller's internals.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import shlex
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from controller.sandbox.forge import port_number

log = logging.getLogger(__name__)

ISSUE = re.compile(r"(?<![\w&])#(\d+)\b")
ISSUE_URL = re.compile(r"/([\w.-]+)/([\w.-]+)/issues/(\d+)")
BRANCH = re.compile(r"(?<![\w/.-])(fix/[\w./-]*\w)")
SOLVE_TIMEOUT_MS = 600_000
_ids = itertools.count(1)


def solve_command(number: int, repository: str = "", branch: str = "") -> str:
    """The shell command the model asks Bash to run for issue `number`."""
    words = [sys.executable, "-m", "controller.sandbox.agent", "solve", "--issue", str(number)]
    if repository:
        words += ["--repo", repository]
    if branch:
        words += ["--branch", branch]
    return " ".join(shlex.quote(word) for word in words)


def newest_user_text(messages: list[dict]) -> str:
    """The last text block of the last user message that is not a system reminder."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        texts = [
            block.get("text", "")
            for block in blocks or []
            if block.get("type") == "text"
            and not block.get("text", "").lstrip().startswith("<system-reminder>")
        ]
        if texts:
            return texts[-1]
    return ""


def tool_result(messages: list[dict]) -> dict | None:
    """The tool_result block the newest user message carries, if it carries one."""
    users = [message for message in messages if message.get("role") == "user"]
    content = users[-1].get("content") if users else None
    if not isinstance(content, list):
        return None
    return next((block for block in content if block.get("type") == "tool_result"), None)


def _result_text(block: dict) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        content = "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def is_title_request(body: dict) -> bool:
    # The client asks for a session title with a JSON output format naming a `title`.
    output = body.get("output_config") or {}
    return isinstance(output, dict) and "title" in json.dumps(output.get("format") or "")


def reply(body: dict) -> tuple[list[dict], str]:
    """The scripted model: content blocks and the stop reason for one request."""
    messages = body.get("messages", [])
    if is_title_request(body):
        return [{"type": "text", "text": json.dumps({"title": "Work on an issue"})}], "end_turn"

    result = tool_result(messages)
    if result is not None:
        output = _result_text(result).strip().splitlines()
        last = output[-1] if output else "no output"
        if result.get("is_error"):
            text = f"The solver did not finish: {last}"
        else:
            text = f"Done. The solver reported: {last}"
        return [{"type": "text", "text": text}], "end_turn"

    prompt = newest_user_text(messages)
    url = ISSUE_URL.search(prompt)
    number = ISSUE.search(prompt)
    if number or url:
        issue = int(number.group(1) if number else url.group(3))
        repository = f"{url.group(1)}/{url.group(2)}" if url else ""
        branch = BRANCH.search(prompt)
        command = solve_command(issue, repository, branch.group(1) if branch else "")
        return [
            {"type": "text", "text": f"I will fix #{issue} with the scripted solver."},
            {
                "type": "tool_use",
                "id": f"toolu_sandbox_{next(_ids):06d}",
                "name": "Bash",
                "input": {
                    "command": command,
                    "description": f"Fix issue #{issue}",
                    "timeout": SOLVE_TIMEOUT_MS,
                },
            },
        ], "tool_use"
    return [
        {
            "type": "text",
            "text": "Hello from the stand-in model. Name an issue (#N) and I will fix it.",
        }
    ], "end_turn"


def message_events(model: str, blocks: list[dict], stop_reason: str) -> list[tuple[str, dict]]:
    """The server-sent events of one streamed answer, in the order the API sends them."""
    message_id = f"msg_sandbox_{next(_ids):06d}"
    events: list[tuple[str, dict]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        log.debug("model %s", format % args)

    def do_HEAD(self):
        self._send(200, b"", "text/plain")

    def do_GET(self):
        self._send(200, b"stand-in model\n", "text/plain")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self._error(400, "the request body is not JSON")
        path = self.path.split("?", 1)[0]
        self.server.record(path, body)
        if path == "/v1/messages/count_tokens":
            return self._json(200, {"input_tokens": 10})
        if path != "/v1/messages":
            return self._error(404, f"no such endpoint: {path}")

        blocks, stop_reason = reply(body)
        model = body.get("model", "claude-sandbox")
        log.info("answered a messages request with %s", stop_reason)
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "id": f"msg_sandbox_{next(_ids):06d}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": blocks,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 20},
                },
            )
        stream = "".join(
            f"event: {name}\ndata: {json.dumps(data)}\n\n"
            for name, data in message_events(model, blocks, stop_reason)
        ).encode()
        self._send(200, stream, "text/event-stream")

    def _json(self, status: int, payload: dict):
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: int, message: str):
        self._json(
            status,
            {"type": "error", "error": {"type": "invalid_request_error", "message": message}},
        )

    def _send(self, status: int, payload: bytes, content_type: str):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", f"req_sandbox_{next(_ids):06d}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address):
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict]] = []

    def record(self, path: str, body: dict) -> None:
        with self.lock:
            self.requests.append((path, body))


class ModelServer:
    """The stand-in model on 127.0.0.1; `port=0` picks a free port."""

    def __init__(self, port: int = 0):
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ModelServer:
        self._server = _Server(("127.0.0.1", self.port))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="sandbox-model"
        )
        self._thread.start()
        log.info("model listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[tuple[str, dict]]:
        """Every POST so far as (path, body); for tests."""
        with self._server.lock:
            return list(self._server.requests)

    def messages_requests(self) -> list[dict]:
        return [body for path, body in self.requests if path == "/v1/messages"]


def register(group) -> None:
    parser = group.add_parser("model", help="the stand-in Messages API for Claude Code")
    parser.add_argument(
        "--port", type=port_number, default=0, help="port on 127.0.0.1 (default: any)"
    )
    parser.set_defaults(func=run_model, long_running=True)


def run_model(args) -> int:
    server = ModelServer(args.port).start()
    print(f"model listening on {server.url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.sandbox.model")
    parser.add_argument("--port", type=port_number, default=0)
    return run_model(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
