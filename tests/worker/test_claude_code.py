"""The real Claude Code CLI, launched as the controller launches it, reaches an idle box.

Needs the pinned CLI installed under `.tools/` at the repository root (CI installs it);
no network: a tiny local server stands in for the API's start-up check.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest

from controller import config as config_module
from controller.delivery import read
from controller.launch import agent_launch
from controller.screens import load_profile
from controller.sessions import Sessions
from controller.worktrees import Worktrees
from tests.helpers import wait_for

CLAUDE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "claude"

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(not CLAUDE.exists(), reason=f"Claude Code CLI not installed at {CLAUDE}"),
]


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_api():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_claude_code_starts_at_an_idle_prompt(tmux_socket, tmp_path, clone, fake_api):
    home = tmp_path / "home"
    home.mkdir()
    environ = {
        "PATH": f"{CLAUDE.parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": fake_api,
        "ANTHROPIC_API_KEY": "sk-ant-api03-test-key-000000000000000000000000000000-AAAA",
    }
    profile = load_profile("claude-code")
    config = config_module.from_mapping({})
    sessions = Sessions(tmux_socket)
    with Worktrees(clone, tmp_path / "worktrees") as worktrees:
        worktree = worktrees.ensure(1)
    command, env = agent_launch(profile, config, number=1, worktree=worktree.path, environ=environ)
    try:
        sessions.start("worker-1", worktree.path, command, env)
        started = time.monotonic()
        seen: list[str] = []

        def idle() -> bool:
            reading = read(sessions, "worker-1", profile)
            seen.append(str(reading))
            assert reading.cls not in ("dialog", "login", "exited"), sessions.capture("worker-1")
            return reading.cls == "idle" and not reading.input_text

        wait_for(idle, timeout=20, interval=0.2, message="an idle Claude Code prompt")
        assert time.monotonic() - started < 20
    finally:
        sessions.kill_server()
