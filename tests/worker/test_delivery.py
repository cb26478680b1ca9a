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
