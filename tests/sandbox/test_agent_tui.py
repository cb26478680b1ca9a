"""The scripted agent's screen in a real tmux server: box, pastes, submit, busy, idle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from controller.sandbox.agent import Keys, parse_prompt
from tests.helpers import wait_for

INPUT_LINE = "❯\u00a0"


def tmux(socket: str, *args: str) -> str:
    result = subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True)
    return result.stdout


def start_agent(socket: str, workdir, env: dict[str, str] | None = None) -> None:
    options = [f"-e{name}={value}" for name, value in (env or {}).items()]
    subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "agent",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            str(workdir),
            *options,
            f"{sys.executable} -m controller.sandbox.agent",
        ],
        check=True,
    )


def screen(socket: str) -> list[str]:
    return tmux(socket, "capture-pane", "-p", "-t", "agent").splitlines()


def title(socket: str) -> str:
    return tmux(socket, "display", "-p", "-t", "agent", "#{pane_title}").strip()


def input_line(socket: str) -> str:
    lines = [line for line in screen(socket) if line.startswith(INPUT_LINE)]
    return lines[-1] if lines else ""


def test_draws_an_idle_box_like_claude_code(tmux_socket, clone):
    start_agent(tmux_socket, clone)

    wait_for(lambda: input_line(tmux_socket) == INPUT_LINE, message="the input box")

    lines = screen(tmux_socket)
    box = lines.index(INPUT_LINE)
    assert set(lines[box - 1]) == {"─"} and set(lines[box + 1]) == {"─"}
    assert lines[box + 2].strip() == "? for shortcuts"
    assert wait_for(lambda: title(tmux_socket).startswith("✳"), message="the idle title")


def test_long_prompt_is_a_paste_and_enter_submits_it_once(tmux_socket, clone):
    start_agent(tmux_socket, clone)
    wait_for(lambda: input_line(tmux_socket) == INPUT_LINE, message="the input box")
    prompt = "Tell me something about this project please, " * 4

    tmux(tmux_socket, "send-keys", "-t", "agent", "-l", prompt)
    wait_for(lambda: "[Pasted text #1" in input_line(tmux_socket), message="the paste placeholder")
    tmux(tmux_socket, "send-keys", "-t", "agent", "Enter")

    wait_for(
        lambda: any("I work on issues" in line for line in screen(tmux_socket)),
        message="the answer",
    )
    lines = screen(tmux_socket)
    assert sum(line.startswith("❯ Tell me something") for line in lines) == 1
    assert sum("I work on issues" in line for line in lines) == 1
    assert input_line(tmux_socket) == INPUT_LINE


def test_text_and_enter_in_one_burst_stays_a_draft(tmux_socket, clone):
    start_agent(tmux_socket, clone)
    wait_for(lambda: input_line(tmux_socket) == INPUT_LINE, message="the input box")

    tmux(tmux_socket, "send-keys", "-t", "agent", "x" * 80, "Enter")

    wait_for(lambda: "[Pasted text #1 +1 lines]" in input_line(tmux_socket), message="the draft")
    tmux(tmux_socket, "send-keys", "-t", "agent", "Enter")
    wait_for(lambda: input_line(tmux_socket) == INPUT_LINE, message="the submitted draft")


def test_keys_tell_typing_from_pastes():
    keys = Keys()

    assert keys.events(b"hi\r") == [("text", "hi"), ("enter", "")]
    assert keys.events(b"y" * 70 + b"\r") == [("paste", "y" * 70 + "\n")]
    assert keys.events(b"\x1b[200~two\rlines\x1b[201~\r") == [
        ("paste", "two\nlines"),
        ("enter", ""),
    ]
    assert keys.events(b"a\x1b[Ab\x7f") == [("text", "ab"), ("backspace", "")]


@pytest.mark.parametrize(
    ("prompt", "number", "repository", "branch"),
    [
        (
            "Fix issue #7 (http://127.0.0.1:4000/sandbox/sample/issues/7) on branch `fix/7-slug`.",
            7,
            "sandbox/sample",
            "fix/7-slug",
        ),
        (
            "# Task\nWork on #12 in repository acme/tools, branch fix/12.",
            12,
            "acme/tools",
            "fix/12",
        ),
        ("See https://github.com/o/r/issues/3", 3, "o/r", ""),
    ],
)
def test_prompt_names_issue_repository_and_branch(prompt, number, repository, branch):
    task = parse_prompt(prompt)

    assert (task.number, task.repository, task.branch) == (number, repository, branch)


def test_prompt_without_an_issue_names_none():
    assert parse_prompt("# Heading\nHello there, colour #fff") is None


def test_claude_code_rules_read_the_scripted_screens(tmux_socket, clone):
    screens = pytest.importorskip("controller.screens")
    profile = screens.load_profile("scripted")
    start_agent(tmux_socket, clone)
    wait_for(lambda: input_line(tmux_socket) == INPUT_LINE, message="the input box")

    def reading():
        return screens.classify(
            "\n".join(screen(tmux_socket)),
            profile,
            title=title(tmux_socket),
            current_command="python3",
        ).cls

    assert reading() == "idle"
    tmux(tmux_socket, "send-keys", "-t", "agent", "-l", "z" * 90)
    wait_for(lambda: "[Pasted text" in input_line(tmux_socket), message="the draft")
    assert reading() == "draft"
