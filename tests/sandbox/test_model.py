"""The stand-in Messages API: its wire format, its script, and the real Claude Code on it."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from controller.sandbox.model import ModelServer

CLAUDE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / ".bin" / "claude"
API_KEY = "sk-ant-sandbox-0000000000000000000000"


@pytest.fixture
def model():
    server = ModelServer().start()
    yield server
    server.stop()


def post(model: ModelServer, body: dict) -> tuple[str, str]:
    request = urllib.request.Request(
        f"{model.url}/v1/messages?beta=true",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "x-api-key": API_KEY},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for chunk in text.strip().split("\n\n"):
        name, data = chunk.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def user(*blocks) -> dict:
    return {"role": "user", "content": list(blocks)}


def test_answers_head_and_plain_text(model):
    head = urllib.request.urlopen(urllib.request.Request(model.url + "/", method="HEAD"))
    assert head.status == 200

    content_type, body = post(
        model, {"model": "m", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
    )

    answer = json.loads(body)
    assert content_type == "application/json"
    assert answer["stop_reason"] == "end_turn"
    assert answer["content"][0]["type"] == "text"
    assert len(model.messages_requests()) == 1


def test_streams_a_bash_tool_call_for_an_issue_prompt(model):
    messages = [
        user(
            {"type": "text", "text": "Please fix issue #4 on branch fix/4-clamp."},
            {"type": "text", "text": "<system-reminder>ignore #9</system-reminder>"},
        )
    ]

    content_type, body = post(model, {"model": "m", "stream": True, "messages": messages})

    events = sse_events(body)
    assert content_type == "text/event-stream"
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    tool = events[4][1]["content_block"]
    arguments = json.loads(events[5][1]["delta"]["partial_json"])
    assert (tool["type"], tool["name"]) == ("tool_use", "Bash")
    assert "controller.sandbox.agent solve --issue 4 --branch fix/4-clamp" in arguments["command"]
    assert events[7][1]["delta"]["stop_reason"] == "tool_use"


def test_summarises_a_tool_result_and_titles_sessions(model):
    result = user({"type": "tool_result", "tool_use_id": "t1", "content": "outcome: merged"})
    title_request = {
        "model": "haiku",
        "stream": True,
        "messages": [user({"type": "text", "text": "#4"})],
        "output_config": {
            "format": {
                "type": "json_schema",
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            }
        },
    }

    summary = sse_events(post(model, {"model": "m", "stream": True, "messages": [result]})[1])
    title = sse_events(post(model, title_request)[1])

    assert "outcome: merged" in summary[2][1]["delta"]["text"]
    assert summary[-2][1]["delta"]["stop_reason"] == "end_turn"
    assert "title" in json.loads(title[2][1]["delta"]["text"])


def claude(model: ModelServer, tmp_path: Path, cwd: Path, prompt: str, *options: str):
    if not CLAUDE.exists():
        pytest.skip(
            f"the Claude Code CLI is not installed at {CLAUDE} "
            "(scripts/bootstrap --with-claude installs it)"
        )
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        HOME=str(home),
        ANTHROPIC_BASE_URL=model.url,
        ANTHROPIC_API_KEY=API_KEY,
        DISABLE_AUTOUPDATER="1",
        IS_SANDBOX="1",
        CLAUDE_CODE_TMPDIR=str(tmp_path / "claude-tmp"),
    )
    result = subprocess.run(
        [str(CLAUDE), "-p", prompt, "--output-format", "json", *options],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.claude
def test_real_claude_code_gets_an_answer(model, tmp_path):
    answer = claude(model, tmp_path, tmp_path, "hi")

    assert "stand-in model" in answer["result"]
    assert model.messages_requests()


@pytest.mark.claude
def test_real_claude_code_runs_the_solver_through_bash(model, tmp_path, clone):
    answer = claude(
        model, tmp_path, clone, "Please fix issue #3.", "--dangerously-skip-permissions"
    )

    results = [
        block
        for body in model.messages_requests()
        for message in body["messages"]
        if isinstance(message.get("content"), list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert results, "Claude Code never ran the Bash tool call"
    # No forge here: the solver itself ran and said what it was missing.
    assert "GITHUB_API_URL is not set" in json.dumps(results)
    assert "solver did not finish" in answer["result"]
