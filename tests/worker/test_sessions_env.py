"""How an agent's environment reaches it: never on a command line, never kept by tmux.

A real tmux server on a private socket; the agent is a real program that writes down
what it received. Secrets are looked for where another user or a person at tmux could
read them: every process's command line, each pane's start command, tmux's environments.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from controller.screens import classify, load_profile
from controller.sessions import SessionError, Sessions
from tests.helpers import wait_for
from tests.worker.exposure import command_lines_holding, tmux_shows
from tests.worker.panes import wait_for_exit_status

ROOT = Path(__file__).resolve().parents[2]
BASE = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "xterm-256color"}
# Writes its environment as JSON, then waits like an agent at its prompt.
DUMP_ENV = (
    "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ))); input()"
)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def env_dir(tmp_path) -> Path:
    return tmp_path / "agent-env"


@pytest.fixture
def sessions(tmux_socket, env_dir):
    sessions = Sessions(tmux_socket, width=120, height=30, env_dir=env_dir)
    yield sessions
    sessions.kill_server()


def test_secrets_are_on_no_command_line_and_in_nothing_tmux_shows(
    sessions, tmux_socket, tmp_path, monkeypatch
):
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    # The controller's own environment holds the token too; tmux must not keep it.
    monkeypatch.setenv("GITHUB_TOKEN", f"{secret}-controller")
    out = tmp_path / "env.json"
    env = {**BASE, "GITHUB_TOKEN": secret, "GH_TOKEN": secret, "ANTHROPIC_API_KEY": f"sk-{secret}"}
    seen_while_starting: list[str] = []
    starting = threading.Event()

    def watch():
        while not starting.is_set():
            seen_while_starting.extend(command_lines_holding(secret))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sessions.start("worker-1", tmp_path, [sys.executable, "-c", DUMP_ENV, str(out)], env)
    finally:
        starting.set()
        watcher.join()
    wait_for(lambda: out.exists() and out.read_text(), message="the agent's environment")

    assert json.loads(out.read_text())["GITHUB_TOKEN"] == secret  # the agent got it
    assert seen_while_starting == []
    assert command_lines_holding(secret) == []
    shown = tmux_shows(tmux_socket)
    assert str(out) in shown and "PATH=" in shown  # the start command, an environment
    assert secret not in shown, shown


def test_the_agent_gets_exactly_its_environment_and_the_file_is_gone(
    sessions, env_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("LEAKY_SECRET", "nope")
    out = tmp_path / "env.json"
    env = {
        **BASE,
        "MULTI": "line one\nline two\n",
        "QUOTES": "a 'b' \"c\" $(d) `e` \\ f",
        "EQUALS": "k=v==w=",
        "UNICODE": "é→✓ 日本語",
        "EMPTY": "",
        "UNDECODABLE": "raw \udcff byte",
    }

    sessions.start("worker-2", tmp_path, [sys.executable, "-c", DUMP_ENV, str(out)], env)

    assert _files(env_dir) == []
    assert stat.S_IMODE(env_dir.stat().st_mode) == 0o700
    seen = json.loads(wait_for(lambda: out.exists() and out.read_text(), message="env"))
    seen.pop("LC_CTYPE", None)  # Python may set it for a C locale
    assert seen == env


def test_the_pane_runs_the_agent_itself(sessions, tmp_path):
    out = tmp_path / "status.txt"
    info = sessions.start(
        "worker-3",
        tmp_path,
        ["sh", "-c", f"grep SigIgn /proc/self/status > {out}; exec sleep 60"],
        BASE,
    )

    pane = wait_for(
        lambda: (p := sessions.list()["worker-3"]).current_command == "sleep" and p,
        message="sleep in the foreground",
    )
    assert pane.pid == info.pid
    assert Path(f"/proc/{pane.pid}/cmdline").read_bytes() == b"sleep\x0060\x00"
    # The start-up program's ignored signals would survive the exec: they must not.
    ignored = int(wait_for(lambda: out.exists() and out.read_text()).split()[1], 16)
    for number in (signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (number - 1)), signal.Signals(number).name


def test_a_missing_command_leaves_a_dead_pane_that_says_what_to_check(sessions, env_dir, tmp_path):
    sessions.start("worker-4", tmp_path, ["no-such-agent-5f3a", "--flag"], BASE)

    dead = wait_for_exit_status(sessions, "worker-4")
    assert dead.dead_status == 127
    screen = sessions.capture("worker-4")
    assert "command not found: 'no-such-agent-5f3a'" in screen
    assert "agent.command" in screen
    reading = classify(
        screen, load_profile("generic"), dead=True, current_command=dead.current_command
    )
    assert (reading.cls, reading.detail) == ("exited", "error")
    assert _files(env_dir) == []


def test_a_start_tmux_refuses_leaves_no_file(tmux_socket, env_dir, tmp_path):
    sessions = Sessions(tmux_socket, width=0, height=30, env_dir=env_dir)
    try:
        with pytest.raises(SessionError, match="width"):
            sessions.start("worker-5", tmp_path, ["sleep", "60"], {**BASE, "K": "secret"})
    finally:
        sessions.kill_server()
    assert _files(env_dir) == []


def test_a_file_left_by_a_crash_goes_at_the_next_start(sessions, tmux_socket, env_dir, tmp_path):
    # A controller killed after writing the file, before tmux ran the pane.
    crash = (
        "import os, sys; from pathlib import Path; "
        "from controller.sessions import Sessions; "
        "s = Sessions(sys.argv[1], env_dir=Path(sys.argv[2])); "
        "s._new_session = lambda *args: os._exit(9); "
        "s.start('worker-6', Path(sys.argv[3]), ['sleep', '60'], "
        "{'PATH': '/bin', 'K': 'secret'})"
    )
    done = subprocess.run(
        [sys.executable, "-c", crash, tmux_socket, str(env_dir), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 9, done.stderr
    [left] = _files(env_dir)
    assert stat.S_IMODE((env_dir / left).stat().st_mode) == 0o600
    other_socket = f"{'0' * 16}-{'1' * 16}-{'2' * 16}.json"
    (env_dir / other_socket).write_text("{}")

    sessions.start("worker-7", tmp_path, ["sleep", "60"], BASE)

    assert _files(env_dir) == [other_socket]


def test_a_folder_others_could_enter_is_refused(tmux_socket, tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    sessions = Sessions(tmux_socket, env_dir=loose)
    try:
        with pytest.raises(SessionError, match="0700"):
            sessions.start("worker-8", tmp_path, ["sleep", "60"], BASE)
    finally:
        sessions.kill_server()
    assert _files(loose) == []


def test_an_environment_file_is_never_forced_to_the_disk(sessions, env_dir, tmp_path, monkeypatch):
    # The file lives for a moment; forced to the disk, its secrets would stay in freed
    # blocks long after it is deleted.
    forced = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        forced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "env.json"
    sessions.start(
        "w",
        tmp_path,
        [sys.executable, "-c", DUMP_ENV, str(out)],
        {**BASE, "GITHUB_TOKEN": "s3cr3t"},
    )
    wait_for(out.exists, message="the agent's environment")
    assert not [path for path in forced if path.startswith(str(env_dir))], forced
