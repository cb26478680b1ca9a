"""Prompt delivery into a real terminal program that swallows Enters like Claude Code."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from controller.delivery import deliver, submit_draft
from controller.screens import load_profile
from controller.sessions import Sessions
from tests.helpers import wait_for

TUI_AGENT = Path(__file__).with_name("tui_agent.py")
ENV = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "xterm-256color"}


def _long_prompt() -> str:
    line = (
        "Fix \"quotes\" and 'single' ones, $(rm -rf /) and `id`, $HOME, \\n, "
        "ünïcödé → ✓ 日本語 {braces} %s C-c Enter"
    )
    lines = [f"{i:03d} {line}" for i in range(25)]
    text = "\n".join(lines)
    return (text + "\n" + "x" * (3000 - len(text) - 1))[:3000]


@pytest.fixture
def sessions(tmux_socket):
    sessions = Sessions(tmux_socket, width=200, height=50)
    yield sessions
    sessions.kill_server()


def _start(sessions, tmp_path, *args) -> Path:
    log = tmp_path / "submitted.jsonl"
    sessions.start("worker-1", tmp_path, [sys.executable, str(TUI_AGENT), str(log), *args], ENV)
    return log


def _submitted(log: Path) -> list[str]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_long_prompt_arrives_intact_and_once(sessions, tmp_path):
    log = _start(sessions, tmp_path)
    prompt = _long_prompt()
    assert len(prompt) == 3000 and prompt.count("\n") == 25

    result = deliver(sessions, "worker-1", prompt, load_profile("claude-code"))

    assert result.ok, result.error
    assert result.enters == 1
    wait_for(lambda: _submitted(log), message="submitted prompt")
    assert _submitted(log) == [prompt]


def test_swallowed_enters_are_pressed_again(sessions, tmp_path):
    log = _start(sessions, tmp_path, "--drop-enters", "2")
    prompt = _long_prompt()

    result = deliver(sessions, "worker-1", prompt, load_profile("claude-code"))

    assert result.ok, result.error
    assert result.enters == 3
    assert wait_for(lambda: _submitted(log)) == [prompt]


def test_enter_never_taken_is_an_error(sessions, tmp_path):
    log = _start(sessions, tmp_path, "--drop-enters", "99")

    result = deliver(sessions, "worker-1", "short one", load_profile("claude-code"), max_enters=2)

    assert not result.ok and result.enters == 2
    assert "stayed in the input box" in result.error
    assert _submitted(log) == []


def test_burst_with_enter_leaves_a_draft_that_submit_draft_sends(sessions, tmp_path):
    log = _start(sessions, tmp_path)
    profile = load_profile("claude-code")
    wait_for(lambda: "❯\u00a0" in sessions.capture("worker-1"), message="input box")
    text = "y" * 100
    sessions.send_text("worker-1", text + "\r")
    wait_for(lambda: "[Pasted text #1" in sessions.capture("worker-1"), message="draft")
    assert _submitted(log) == []

    result = submit_draft(sessions, "worker-1", profile)

    assert result.ok and result.enters == 1
    assert wait_for(lambda: _submitted(log)) == [text]


def test_agent_that_is_gone_is_reported(sessions, tmp_path):
    sessions.start("worker-1", tmp_path, ["sh", "-c", "exit 1"], ENV)
    result = deliver(sessions, "worker-1", "hi", load_profile("claude-code"), ready_timeout=5)
    assert not result.ok and "exited" in result.error


def test_an_agent_that_cannot_start_says_why_in_the_error(sessions, tmp_path):
    # What `status` shows of a failed launch: the exit status and the pane's last words.
    sessions.start("worker-1", tmp_path, ["no-such-agent-xyz", "--go"], ENV)

    result = deliver(sessions, "worker-1", "hello", load_profile("claude-code"), ready_timeout=10)

    assert not result.ok
    # The cause first: `status` shows the start of an error. tmux does not always learn
    # the exit status (and the screen then lacks its "Pane is dead (status 127" line).
    head, _, rest = result.error.partition(": ")
    assert head in ("agent exited 127", "agent exited"), result.error
    assert rest.startswith("command not found: 'no-such-agent-xyz'; check agent.command")
    assert "(the agent's screen reads exited" in rest and rest.endswith("before it took a prompt)")
    assert "\n" not in result.error and "Pane is dead" not in result.error


def test_the_quoted_screen_is_masked_one_line_and_short(sessions, tmp_path):
    secret = "Zq81-a-known-secret-value"
    wrapped_key = "github_pat_11ABC" + "dEf4GhI7jK" * 7 + "xyz0123"
    script = (
        f"echo {'x' * 150} {wrapped_key}; echo 'password=hunter2 {secret}'; "
        f"echo '{'y' * 300}'; echo 'sh: 1: agent: bad option'; exit 3"
    )
    sessions.start("worker-1", tmp_path, ["sh", "-c", script], ENV)

    result = deliver(
        sessions, "worker-1", "hello", load_profile("claude-code"), ready_timeout=10, known=[secret]
    )

    assert not result.ok
    assert result.error.startswith(("agent exited 3: ...", "agent exited: ...")), result.error
    assert "sh: 1: agent: bad option (the agent's screen reads exited" in result.error
    assert "\n" not in result.error and len(result.error) < 400
    # The two last lines are quoted: the long one is cut at its start.
    assert "y" * 100 in result.error and "x" * 10 not in result.error


def test_the_quoted_screen_masks_what_it_quotes(sessions, tmp_path):
    secret = "Zq81-a-known-secret-value"
    wrapped_key = "github_pat_11ABC" + "dEf4GhI7jK" * 7 + "xyz0123"
    script = f"echo {'x' * 150} {wrapped_key}; echo 'password=hunter2 {secret}'; exit 1"
    sessions.start("worker-1", tmp_path, ["sh", "-c", script], ENV)

    result = deliver(
        sessions, "worker-1", "hello", load_profile("claude-code"), ready_timeout=10, known=[secret]
    )

    assert not result.ok
    assert "github_pat_***" in result.error and "password=*** ***" in result.error
    assert "hunter2" not in result.error and secret not in result.error
    assert "dEf4GhI7" not in result.error and "xyz0123" not in result.error
