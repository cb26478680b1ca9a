"""An agent under a shell wrapper: tmux names the shell, the process tree names the agent."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from controller import config, processes, screens
from controller.reconcile import Reconciler
from controller.record import Record
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


def test_an_agent_under_a_shell_is_seen_until_it_dies_and_the_shell_stays(tmux_socket, tmp_path):
    sessions = Sessions(tmux_socket, width=80, height=10)
    env = {"PATH": os.environ["PATH"], "PS1": "$ ", "HOME": str(tmp_path)}
    sessions.start("worker-1", tmp_path, ["sh", "-c", "sleep 300; exec sh"], env)
    wait_for(
        lambda: _running(_pane(sessions, "worker-1").pid, "sleep"),
        timeout=10,
        message="the wrapped program running",
    )
    pane = _pane(sessions, "worker-1")
    # tmux sees only the shell: the wrapped program shares its process group.
    assert pane.current_command == "sh"
    assert processes.agent_command(pane.current_command, pane.pid, SHELLS) == "sleep"

    os.kill(_running(pane.pid, "sleep"), signal.SIGKILL)
    wait_for(
        lambda: sessions.capture("worker-1").rstrip().endswith("$"),
        timeout=10,
        message="the shell's prompt after the program died",
    )
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


def test_one_poll_reads_the_process_tree_once_however_many_panes_show_a_shell(
    tmux_socket, tmp_path, monkeypatch
):
    sessions = Sessions(tmux_socket, width=80, height=10)
    env = {"PATH": os.environ["PATH"], "PS1": "$ ", "HOME": str(tmp_path)}
    wrapped = (1, 2, 3, 4)
    for number in wrapped:
        sessions.start(f"worker-{number}", tmp_path, ["sh", "-c", "sleep 300; exec sh"], env)
    sessions.start("worker-5", tmp_path, ["sleep", "300"], env)
    for number in wrapped:
        wait_for(
            lambda n=number: _running(_pane(sessions, f"worker-{n}").pid, "sleep"),
            timeout=10,
            message=f"the wrapped program running in worker-{number}",
        )
    wait_for(lambda: _pane(sessions, "worker-5").current_command == "sleep", timeout=10)
    reconciler = Reconciler(
        config.from_mapping({"tmux": {"socket": tmux_socket}}),
        None,
        None,
        sessions,
        None,
        screens.load_profile("claude-code"),
        settle=False,
    )
    scans, classified = [], []
    real_tree, real_classify = processes._tree, screens.classify
    monkeypatch.setattr(processes, "_tree", lambda: scans.append(1) or real_tree())
    monkeypatch.setattr(
        screens, "classify", lambda *a, **k: classified.append(1) or real_classify(*a, **k)
    )
    records = {n: Record(issue=n, state="working") for n in (*wrapped, 5)}

    views = reconciler._observe_panes(records, time.time())
    assert len(scans) == 1 and len(classified) == 5
    assert all(views[n].raw.cls != "exited" for n in wrapped), views
    # Each wrapped pane was read as its agent, not as the shell tmux names.
    assert {reconciler._last_screens[f"worker-{n}"][0][2] for n in wrapped} == {"sleep"}

    # The next poll reads the tree once again (an agent may have exited meanwhile), and
    # the unchanged screens are not classified again.
    reconciler._observe_panes(records, time.time())
    assert len(scans) == 2 and len(classified) == 5

    # A poll where no pane shows a shell does not read the tree at all.
    reconciler._observe_panes({5: records[5]}, time.time())
    assert len(scans) == 2


def _parents(tree) -> dict[int, int]:
    return {child: parent for parent, children in tree[1].items() for child in children}


def _zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_the_tree_reads_the_same_from_ps_as_from_proc(tmp_path):
    # A name with a space and parentheses, which /proc's stat line and ps's columns
    # both have to get right.
    odd = tmp_path / "my (agent) x"
    odd.symlink_to(shutil.which("sleep"))
    wrapper = subprocess.Popen(
        ["sh", "-c", '"$0" 300 & sleep 301 & wait', str(odd)], start_new_session=True
    )
    zombie = subprocess.Popen(["true"])  # not reaped until the end: a zombie meanwhile
    try:

        def ours():
            tree = processes._tree_from_proc()
            children = tree[1].get(wrapper.pid, [])
            names = sorted(tree[0].get(child, "") for child in children)
            return names == ["my (agent) x", "sleep"] and children

        children = wait_for(ours, timeout=10, message="the wrapper's two programs running")
        wait_for(lambda: _zombie(zombie.pid), timeout=10, message="the zombie")

        # Read from ps between two readings of /proc: a process that exited, was
        # reparented or ran another program meanwhile differs between the two and is
        # left out, as is one that started in between.
        before = processes._tree_from_proc()
        from_ps = processes._tree_from_ps()
        after = processes._tree_from_proc()
        assert from_ps is not None
        first, second, by_ps = _parents(before), _parents(after), _parents(from_ps)
        stable = {
            pid
            for pid in first.keys() & second.keys() & by_ps.keys()
            if first[pid] == second[pid] and before[0].get(pid) == after[0].get(pid)
        }
        mine = {wrapper.pid, *children, zombie.pid}
        assert mine <= stable
        assert {pid: by_ps[pid] for pid in stable} == {pid: first[pid] for pid in stable}
        # ps names a process by the kernel's name for it and /proc by its argv[0], as
        # tmux does; the two differ for a script started through its interpreter (this
        # very process, under the pytest script), so names are compared where they
        # agree by construction: the programs this test started.
        expected = {wrapper.pid: "sh", **{pid: before[0][pid] for pid in children}}
        assert {pid: from_ps[0].get(pid) for pid in expected} == expected
        assert sorted(expected.values()) == ["my (agent) x", "sh", "sleep"]
        # A zombie is a gone agent: listed as a child, named by neither.
        assert zombie.pid in from_ps[1][os.getpid()] and zombie.pid in before[1][os.getpid()]
        assert zombie.pid not in from_ps[0] and zombie.pid not in before[0]
    finally:
        os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait()
        zombie.wait()
