"""The agents' side failing: the tmux server killed, an agent killed, exiting or hanging.

Each fault hits a real `controller run` with the scripted agent in real tmux. The
issue must be respawned within its budget and finish, never be marked done by the
fault, and never sit in `working` forever.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for
from tests.reliability.figures import FIGURES

TUI_AGENT = Path(__file__).resolve().parent.parent / "worker" / "tui_agent.py"


def _pane_pid(rig, number: int) -> int | None:
    result = subprocess.run(
        ["tmux", "-L", rig.socket, "list-panes", "-t", f"worker-{number}", "-F", "#{pane_pid}"],
        capture_output=True,
        text=True,
    )
    text = result.stdout.strip()
    return int(text.splitlines()[0]) if result.returncode == 0 and text else None


def _agent_pid(rig, number: int) -> int | None:
    """The scripted agent's process: the pane's process or its child under a shell."""
    pid = _pane_pid(rig, number)
    if pid is None:
        return None
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    found = [int(p) for p in children.stdout.split()]
    return found[0] if found else pid


def _history(rig, number: int) -> list[str]:
    out = subprocess.run(
        ["git", "log", "--reverse", "--format=%s", "--", f"issue-{number}.yaml"],
        cwd=rig.state_dir,
        capture_output=True,
        text=True,
    ).stdout
    return out.splitlines()


def test_tmux_server_killed_respawns_every_agent(rig):
    numbers = rig.file_samples((0, 2, 3))
    rig.agent_env["SCRIPTED_AGENT_THINK_S"] = "3"
    proc = rig.start()
    wait_for(
        lambda: all(rig.state_of(n) in ("spawned", "working") for n in numbers),
        timeout=90,
        interval=0.1,
        message="every agent running",
    )
    subprocess.run(["tmux", "-L", rig.socket, "kill-server"], check=True)
    FIGURES.fault("tmux-server-killed")

    rig.wait_closed(numbers, timeout=150, proc=proc)
    assert rig.stop(proc) == 0
    for n in numbers:
        assert rig.states()[n]["spawns"] <= 3
        assert any(
            "respawn next" in line or "-> worktree" in line for line in _history(rig, n)[3:]
        ), _history(rig, n)
    rig.check(numbers)


def _policy(rig) -> None:
    rig.agent_env["SCRIPTED_AGENT_THINK_S"] = "10"
    rig.overrides["policy"] = {
        "max_workers": 3,
        "stall_after_s": 2,
        "settle_s": 0.3,
        "retry_backoff_s": 1,
        "retry_backoff_max_s": 5,
        "max_nudges": 2,
    }


def _wait_running(rig, numbers) -> None:
    try:
        wait_for(
            lambda: (
                all(rig.state_of(n) in ("spawned", "working") for n in numbers)
                and all(_agent_pid(rig, n) for n in numbers)
            ),
            timeout=90,
            interval=0.1,
            message="every agent running",
        )
    except AssertionError:
        print(rig.states(), rig.log()[-3000:])
        raise


def test_agent_killed_or_exiting(rig):
    """One issue each: its agent is SIGKILLed, or exits by itself (SIGTERM)."""
    _policy(rig)
    killed, exiting = rig.file_samples((0, 2))
    proc = rig.start()
    _wait_running(rig, (killed, exiting))
    os.kill(_agent_pid(rig, killed), signal.SIGKILL)
    os.kill(_agent_pid(rig, exiting), signal.SIGTERM)
    FIGURES.fault("agent-killed")
    FIGURES.fault("agent-exited")
    rig.wait_closed((killed, exiting), timeout=150, proc=proc)
    assert rig.stop(proc) == 0
    for n in (killed, exiting):
        assert any("-> worktree" in line for line in _history(rig, n)), _history(rig, n)
        assert rig.states()[n]["spawns"] >= 2
    rig.check((killed, exiting))


def test_agent_hanging_with_no_output_is_noticed(rig, tmp_path):
    # An agent that takes its prompt, shows the busy spinner and then never draws again
    # (a hung process behind a frozen screen).
    _policy(rig)
    rig.overrides["policy"].update(hang_after_s=3, stall_after_s=1, max_nudges=2)
    submitted = tmp_path / "submitted.jsonl"
    frozen = [sys.executable, str(TUI_AGENT), str(submitted), "--busy-s", "3600"]
    rig.overrides["agent"] = {"command": shlex.join(frozen)}
    (hanging,) = rig.file_samples((3,))
    proc = rig.start()
    FIGURES.fault("agent-hung")
    try:
        # Noticed within a few seconds of the hang threshold, interrupted and nudged;
        # never left "working" and never closed by the fault.
        wait_for(
            lambda: rig.state_of(hanging) == "stalled",
            timeout=60,
            interval=0.2,
            message="the hung agent's issue noticed",
        )
        wait_for(
            lambda: submitted.exists() and len(submitted.read_text().splitlines()) >= 2,
            timeout=60,
            message="a nudge after the interrupt",
        )
        assert rig.states()[hanging]["state"] != "closed"
    finally:
        rig.stop(proc)


def test_agent_under_a_shell_killed_while_the_shell_stays(rig):
    """The agent started through a shell wrapper; killed, its shell's prompt stays."""
    _policy(rig)
    agent = shlex.join([sys.executable, "-m", "controller.sandbox.agent"])
    rig.overrides["agent"] = {"command": shlex.join(["sh", "-c", f"{agent}; exec sh"])}
    rig.agent_env["PS1"] = "$ "
    wrapped, killed = rig.file_samples((0, 2))
    proc = rig.start()
    _wait_running(rig, (wrapped, killed))
    # Running under its shell, each agent is read as working, not as an exited agent.
    wait_for(
        lambda: rig.state_of(killed) == "working",
        timeout=60,
        interval=0.1,
        message="the wrapped agent seen working",
    )
    os.kill(_agent_pid(rig, killed), signal.SIGKILL)
    FIGURES.fault("agent-killed-shell-stays")

    rig.wait_closed((wrapped, killed), timeout=150, proc=proc)
    assert rig.stop(proc) == 0
    states = rig.states()
    assert states[wrapped]["spawns"] == 1, _history(rig, wrapped)
    assert states[killed]["spawns"] == 2, _history(rig, killed)
    assert any("agent exited" in line for line in _history(rig, killed)), _history(rig, killed)
    rig.check((wrapped, killed))
