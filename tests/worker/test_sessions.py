"""Sessions against a real tmux server on a private socket."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller import config as config_module
from controller.sessions import SessionError, Sessions, peek
from tests.helpers import wait_for
from tests.worker.panes import wait_for_exit_status

ENV = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "xterm-256color"}


@pytest.fixture
def sessions(tmux_socket):
    sessions = Sessions(tmux_socket, width=120, height=30)
    yield sessions
    sessions.kill_server()


def test_list_without_a_server_is_empty(sessions):
    assert sessions.list() == {}
    assert not sessions.exists("worker-1")


def test_exact_names_never_match_by_prefix(sessions, tmp_path):
    sessions.start("worker-12", tmp_path, ["sh", "-c", "echo twelve; exec sleep 60"], ENV)
    assert not sessions.exists("worker-1")
    with pytest.raises(SessionError):
        sessions.capture("worker-1")
    with pytest.raises(SessionError):
        sessions.send_keys("worker-1", "Enter")

    sessions.start("worker-1", tmp_path, ["sh", "-c", "echo one; exec sleep 60"], ENV)
    wait_for(lambda: "one" in sessions.capture("worker-1"), message="worker-1 output")
    assert "twelve" not in sessions.capture("worker-1")
    sessions.stop("worker-1")
    assert sessions.exists("worker-12") and not sessions.exists("worker-1")


def test_start_fixes_size_keeps_dead_panes_and_adopts(sessions, tmp_path):
    info = sessions.start("w", tmp_path, ["sh", "-c", "pwd; exec sleep 60"], ENV)
    assert (info.width, info.height) == (120, 30)
    assert not info.dead and info.pid
    wait_for(lambda: str(tmp_path) in sessions.capture("w"), message="pwd output")
    assert sessions.start("w", tmp_path, ["false"], ENV).pid == info.pid

    sessions.start("gone", tmp_path, ["sh", "-c", "exit 3"], ENV)
    dead = wait_for_exit_status(sessions, "gone")
    assert dead.dead_status == 3
    restarted = sessions.start("gone", tmp_path, ["sh", "-c", "exec sleep 60"], ENV)
    assert not restarted.dead


def test_environment_is_exactly_what_is_given(sessions, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKY_SECRET", "nope")
    sessions.start("seed", tmp_path, ["sleep", "60"], ENV)  # the server starts from here
    out = tmp_path / "env.txt"
    env = {**ENV, "ODD": "a b 'c' $(x) `y`"}
    sessions.start("envtest", tmp_path, ["sh", "-c", f"env > {out}; exec sleep 60"], env)

    text = wait_for(lambda: out.exists() and out.read_text(), message="env output")
    seen = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert seen.pop("ODD") == env["ODD"]
    assert seen.pop("PWD", None) in (None, str(tmp_path))
    assert seen.pop("SHLVL", None) in (None, "1")
    seen.pop("_", None)  # the shell's own
    assert set(seen) == {"PATH", "LANG", "TERM"}


def test_capture_many_reads_several_panes_in_one_call(sessions, tmp_path):
    for name in ("a", "b-1", "b-10"):
        sessions.start(name, tmp_path, ["sh", "-c", f"echo screen-of-{name}; exec sleep 60"], ENV)
    for name in ("a", "b-1", "b-10"):
        wait_for(lambda n=name: f"screen-of-{n}" in sessions.capture(n))

    screens = sessions.capture_many(["a", "b-1", "b-10", "missing"])

    assert set(screens) == {"a", "b-1", "b-10"}
    for name, screen in screens.items():
        assert screen.splitlines()[0] == f"screen-of-{name}"
        assert "screen-of" not in "".join(screen.splitlines()[1:])
    assert screens["a"] == sessions.capture("a")


def test_send_text_is_literal_and_keys_are_keys(sessions, tmp_path):
    out = tmp_path / "line.txt"
    sessions.start("cat", tmp_path, ["sh", "-c", f"head -n 1 > {out}; exec sleep 60"], ENV)
    # Longer than one chunk, shorter than the terminal's line limit.
    text = "Enter C-c $(echo no) `id` \"q\" 'é→✓' " + "x" * 3000
    sessions.send_text("cat", text)
    sessions.send_keys("cat", "Enter")
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"), message="line")
    assert out.read_text() == text + "\n"


def test_stop_kills_the_processes(sessions, tmp_path):
    info = sessions.start("s", tmp_path, ["sleep", "600"], ENV)
    sessions.stop("s")
    assert not sessions.exists("s")
    wait_for(lambda: not Path(f"/proc/{info.pid}").exists(), message="process gone")
    sessions.stop("s")


def test_peek_names_the_missing_session(tmux_socket, tmp_path):
    config = config_module.from_mapping({"tmux": {"socket": tmux_socket}})
    with pytest.raises(SessionError, match="worker-3"):
        peek(config, 3)
    sessions = Sessions(tmux_socket)
    sessions.start("worker-3", tmp_path, [sys.executable, "-c", "print('hi');input()"], ENV)
    assert wait_for(lambda: "hi" in peek(config, 3))


def test_stopping_the_last_session_then_listing_and_starting_at_once(sessions, tmp_path):
    # Killing the only session ends the tmux server; a listing or a start that reaches
    # the server while it ends must read "no sessions" and start a new one. Another
    # reader lists all the while (a person's `controller status`), to meet that moment.
    seen_errors: list[str] = []
    stopping = threading.Event()

    def read_all_the_while() -> None:
        while not stopping.is_set():
            try:
                sessions.list()
            except SessionError as error:
                seen_errors.append(str(error))

    reader = threading.Thread(target=read_all_the_while)
    reader.start()
    try:
        for _ in range(25):
            sessions.start("worker-13", tmp_path, ["sleep", "60"], ENV)
            sessions.stop("worker-13")
            assert "worker-13" not in sessions.list()
            info = sessions.start("worker-13", tmp_path, ["sleep", "60"], ENV)
            assert not info.dead
            sessions.stop("worker-13")
    finally:
        stopping.set()
        reader.join()
    assert seen_errors == []


def test_attach_without_a_terminal_says_to_use_peek(sessions, tmux_socket, tmp_path):
    (tmp_path / "controller.yaml").write_text(f"tmux:\n  socket: {tmux_socket}\n")
    sessions.start("worker-6", tmp_path, ["sleep", "60"], ENV)
    done = subprocess.run(
        [sys.executable, "-m", "controller", "--config", str(tmp_path / "controller.yaml")]
        + ["attach", "6"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "controller: attach needs a terminal on its input and output, and this is not "
        "one; run `controller attach 6` in a terminal, or print the agent's screen with "
        "`controller peek 6`\n"
    )
    assert sessions.exists("worker-6")
