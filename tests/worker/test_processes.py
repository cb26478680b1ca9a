"""An agent under a shell wrapper: tmux names the shell, the process tree names the agent."""

from __future__ import annotations

import os
import signal

from controller import processes, screens
from controller.sessions import Sessions
from tests.helpers import wait_for

SHELLS = screens.load_profile("claude-code").exited_commands


def _pane(sessions: Sessions, name: str):
    return sessions.list()[name]


def _running(pid: int, name: str) -> int | None:
    """The pid of the process called `name` below `pid`, if any."""
    names, children = processes._tree()
    queue = [pid]
    while queue:
        current = queue.pop(0)
        if names.get(current) == name:
            return current
        queue.extend(children.get(current, ()))
    return None


def test_an_agent_under_a_shell_is_seen_until_it_dies_and_the_shell_stays(tmux_socket,
                                                                          tmp_path):
    sessions = Sessions(tmux_socket, width=80, height=10)
    env = {"PATH": os.environ["PATH"], "PS1": "$ ", "HOME": str(tmp_path)}
    sessions.start("worker-1", tmp_path, ["sh", "-c", "sleep 300; exec sh"], env)
    wait_for(lambda: _running(_pane(sessions, "worker-1").pid, "sleep"), timeout=10,
             message="the wrapped program running")
    pane = _pane(sessions, "worker-1")
    # tmux sees only the shell: the wrapped program shares its process group.
    assert pane.current_command == "sh"
    assert processes.agent_command(pane.current_command, pane.pid, SHELLS) == "sleep"

    os.kill(_running(pane.pid, "sleep"), signal.SIGKILL)
    wait_for(lambda: sessions.capture("worker-1").rstrip().endswith("$"), timeout=10,
             message="the shell's prompt after the program died")
    pane = _pane(sessions, "worker-1")
    assert not pane.dead
    assert processes.agent_command(pane.current_command, pane.pid, SHELLS) == "sh"


def test_a_directly_started_agent_is_taken_as_tmux_names_it(tmux_socket, tmp_path):
    sessions = Sessions(tmux_socket, width=80, height=10)
    sessions.start("worker-2", tmp_path, ["sleep", "300"], {"PATH": os.environ["PATH"]})
    pane = _pane(sessions, "worker-2")
    wait_for(lambda: _pane(sessions, "worker-2").current_command == "sleep", timeout=10)
    assert processes.agent_command("sleep", pane.pid, SHELLS) == "sleep"
    assert processes.agent_command("sh", None, SHELLS) == "sh"


def test_the_tree_reads_the_same_from_ps_as_from_proc():
    from_proc = processes._tree_from_proc()
    from_ps = processes._tree_from_ps()
    assert from_ps is not None
    me = os.getpid()
    assert me in from_proc[1][os.getppid()] and me in from_ps[1][os.getppid()]
    assert from_proc[0][me].startswith("python") and from_ps[0][me].startswith("python")
