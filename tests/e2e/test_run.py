"""`controller run` against the sandbox forge, configured by hand, with the scripted agent.

These are the behaviours a person relies on when the controller runs unattended:
issues go all the way to closed and leave nothing behind, hand edits are obeyed while
it runs, and a second controller cannot act on the same state directory.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from controller import machine
from tests.helpers import git, open_pull_request, wait_for

pytestmark = pytest.mark.e2e


def test_issues_go_through_every_state_to_closed_and_leave_nothing_behind(sandbox):
    plain = sandbox.file("slug-dashes")
    stalling = sandbox.file("word-count-spaces")  # its agent goes idle after committing
    outsider = sandbox.file("median-even", author="mallory")
    run = sandbox.start()

    for number in (plain, stalling):
        sandbox.wait_state(number, "closed", timeout=120)

    paths = {number: sandbox.path_taken(number) for number in (plain, stalling)}
    for path in paths.values():
        assert path[:3] == ["discovered", "worktree", "spawned"]
        assert path[-3:] == ["pr-open", "ci-green", "closed"]
        assert all(machine.allowed(a, b) for a, b in zip(path, path[1:], strict=False)), path
    assert set(paths[plain]) | set(paths[stalling]) == set(machine.STATES)
    assert "stalled" in paths[stalling] and sandbox.state(stalling)["nudges"] >= 1
    for number in (plain, stalling):
        assert len(sandbox.pulls_for(number)) == 1
        assert [b for b in sandbox.origin_branches() if f"issue-{number}-" in b] == [
            f"fix/issue-{number}-a"
        ]
    wait_for(lambda: not sandbox.sessions(), timeout=30, message="sessions to stop")
    wait_for(
        lambda: sandbox.worktrees() == [str(sandbox.repo_path)],
        timeout=30,
        message="worktrees to be removed",
    )
    assert not (sandbox.state_dir / f"issue-{outsider}.yaml").exists()
    assert sandbox.stop(run) == 0

    status = json.loads(sandbox.controller("status", "--json").stdout)
    assert {row["issue"]: row["state"] for row in status} == {plain: "closed", stalling: "closed"}


def test_hand_edits_while_running_are_obeyed(sandbox):
    sandbox.configure(
        agent={
            "env": {
                "GITHUB_API_URL": sandbox.forge.url,
                "GITHUB_REPOSITORY": "alice/textkit",
                "SCRIPTED_AGENT_STALL": "1",
            }
        },
        policy={"max_nudges": 0},
    )  # agents stay stalled until told otherwise
    first = sandbox.file("slug-dashes")
    second = sandbox.file("median-even")
    third = sandbox.file("clamp-high")
    sandbox.start()
    for number in (first, second, third):
        sandbox.wait_state(number, "stalled", timeout=90)

    # Forcing closed by editing the file stops the agent, and it stays stopped.
    path = sandbox.state_dir / f"issue-{first}.yaml"
    path.write_text(path.read_text().replace("state: stalled", "state: closed"))
    wait_for(
        lambda: f"worker-{first}" not in sandbox.sessions(),
        timeout=20,
        message="the agent of the force-closed issue to stop",
    )
    wait_for(
        lambda: sandbox.state(first).get("forced"),
        timeout=20,
        message="the hand edit to be recorded as forced",
    )
    assert sandbox.state(first)["state"] == "closed"
    # The file is written before its audit commit is made: the commit may follow a moment later.
    wait_for(
        lambda: any("(forced)" in line or "by hand" in line for line in sandbox.audit(first)),
        timeout=20,
        message="the forced transition in the audit trail",
    )

    # Forcing spawned with the command restarts the agent.
    pid = sandbox.pane_pid(f"worker-{second}")
    forced = sandbox.controller("force", str(second), "spawned", "--reason", "try again")
    assert forced.returncode == 0, forced.stderr
    # A forced state is another try: the budgets start afresh, this start is the first.
    wait_for(
        lambda: sandbox.state(second).get("spawns") == 1,
        timeout=30,
        message="the agent to be restarted",
    )
    wait_for(
        lambda: sandbox.pane_pid(f"worker-{second}") not in ("", pid),
        timeout=20,
        message="a new agent process",
    )

    # An invalid edit pauses only that issue, with a clear message, until it is fixed.
    path = sandbox.state_dir / f"issue-{third}.yaml"
    original = path.read_text()
    path.write_text(original.replace("state: stalled", "state: wroking"))
    status = json.loads(sandbox.controller("status", "--json").stdout)
    row = next(r for r in status if r["file"].endswith(f"issue-{third}.yaml"))
    assert row["state"] is None and "wroking" in row["error"] and "stalled" in row["error"]
    assert path.read_text() == original.replace("state: stalled", "state: wroking")
    path.write_text(original.replace("state: stalled", "state: closed"))
    wait_for(
        lambda: f"worker-{third}" not in sandbox.sessions(),
        timeout=20,
        message="the fixed file to take effect",
    )

    # Meanwhile the forced-closed issue was not picked up again.
    assert sandbox.state(first)["state"] == "closed"
    assert f"worker-{first}" not in sandbox.sessions()


def test_a_second_controller_is_refused_while_the_first_runs(sandbox):
    sandbox.file("slug-dashes")
    run = sandbox.start()
    wait_for(
        lambda: (sandbox.state_dir / ".controller" / "lock").exists(),
        timeout=30,
        message="the first controller to take the lock",
    )
    wait_for(lambda: sandbox.state(1).get("state"), timeout=30, message="a first pass")
    second = sandbox.controller("reconcile")
    assert second.returncode == 2
    assert str(run.pid) in second.stderr and "--wait" in second.stderr
    another = sandbox.start(log_name="second.log")
    assert another.wait(timeout=30) == 2
    assert str(run.pid) in sandbox.log("second.log")


def test_a_pull_request_opened_from_another_branch_is_adopted(sandbox, tmp_path):
    number = sandbox.file("slug-dashes")
    existing = open_pull_request(
        sandbox.forge,
        tmp_path / "someone",
        "alice",
        "someone/slugs",
        "Slugs",
        body=f"Closes #{number}",
    )

    sandbox.start()
    final = sandbox.wait_state(number, "closed", timeout=120)
    assert final["pr"] == existing and final["branch"] == "someone/slugs"
    assert [p["number"] for p in sandbox.pulls_for(number)] == [existing]
    assert not [b for b in sandbox.origin_branches() if b.startswith("fix/issue-")]


def test_an_issue_closed_by_a_person_mid_nudge_stops_its_agent(sandbox):
    sandbox.configure(
        agent={
            "env": {
                "GITHUB_API_URL": sandbox.forge.url,
                "GITHUB_REPOSITORY": "alice/textkit",
                "SCRIPTED_AGENT_STALL": "1",
            }
        },
        policy={"max_nudges": 50, "stall_after_s": 1},
    )
    number = sandbox.file("slug-dashes")
    sandbox.start()
    wait_for(lambda: sandbox.state(number).get("nudges", 0) >= 1, timeout=90, message="a nudge")
    sandbox.forge.close_issue(number)
    final = sandbox.wait_state(number, "closed", timeout=30)
    assert "issue closed" in final["reason"]
    wait_for(
        lambda: f"worker-{number}" not in sandbox.sessions(),
        timeout=20,
        message="the agent to stop",
    )
    # The agent's committed work is kept: on the remote if it pushed it in time,
    # otherwise on the local branch, which is not deleted with the worktree.
    local = git(sandbox.repo_path, "branch", "--list", f"fix/issue-{number}-a")
    assert local or f"fix/issue-{number}-a" in sandbox.origin_branches()
    assert not (sandbox.root / "worktrees" / f"issue-{number}").exists()


def test_a_reopened_issue_gets_a_new_run(sandbox):
    number = sandbox.file("slug-dashes")
    sandbox.start()
    sandbox.wait_state(number, "closed", timeout=120)
    sandbox.forge.reopen_issue(number)
    sandbox.forge.comment(number, "alice", "Still broken for tabs, please look again.")
    sandbox.wait_state(number, "discovered", "worktree", "spawned", "working", timeout=30)
    sandbox.wait_state(number, "closed", timeout=120)
    assert any("closed -> discovered: issue reopened" in line for line in sandbox.audit(number))
    assert sandbox.state(number)["spawns"] >= 1


def test_an_agent_frozen_while_busy_is_interrupted_and_nudged(sandbox, tmp_path):
    submitted = tmp_path / "submitted.jsonl"
    frozen_agent = [
        sys.executable,
        str(Path(__file__).parent.parent / "worker" / "tui_agent.py"),
        str(submitted),
        "--busy-s",
        "3600",
    ]  # busy forever, screen never changes
    sandbox.configure(
        agent={"command": shlex.join(frozen_agent)},
        policy={"hang_after_s": 2, "stall_after_s": 1, "max_nudges": 3},
    )
    number = sandbox.file("slug-dashes")
    sandbox.start()
    wait_for(
        lambda: "no screen change" in (sandbox.state(number).get("reason") or ""),
        timeout=60,
        message="the frozen agent to be noticed",
    )
    assert sandbox.state(number)["state"] == "stalled"
    # Interrupted (Escape), then nudged: the nudge reaches the agent as a second prompt.
    wait_for(
        lambda: submitted.exists() and len(submitted.read_text().splitlines()) >= 2,
        timeout=60,
        message="a nudge after the interrupt",
    )
    first, second = (json.loads(line) for line in submitted.read_text().splitlines()[:2])
    assert f"issue #{number}" in first and f"issue #{number}" in second


def test_a_controller_waiting_for_the_lock_stops_on_sigterm(sandbox):
    import signal

    sandbox.start()
    wait_for(
        lambda: (sandbox.state_dir / ".controller" / "lock").exists(),
        timeout=30,
        message="the first controller to take the lock",
    )
    waiting = sandbox.start("--wait", log_name="waiting.log")
    wait_for(
        lambda: "waiting for the lock" in sandbox.log("waiting.log"),
        timeout=30,
        message="the second controller to wait",
    )
    waiting.send_signal(signal.SIGTERM)
    assert waiting.wait(timeout=15) == 0


def test_a_state_file_for_an_issue_github_does_not_know_stops_nothing_else(sandbox):
    sandbox.state_dir.mkdir(parents=True)
    (sandbox.state_dir / "issue-50.yaml").write_text("issue: 50\nstate: working\n")
    number = sandbox.file("slug-dashes")
    sandbox.start()
    sandbox.wait_state(number, "closed", timeout=120)
    assert sandbox.log().count("#50 not found on GitHub") == 1


def test_forcing_spawned_on_a_closed_issue_settles_without_spinning(sandbox):
    number = sandbox.file("slug-dashes")
    sandbox.start()
    sandbox.wait_state(number, "closed", timeout=120)
    forced = sandbox.controller("force", str(number), "spawned", "--reason", "try again")
    assert forced.returncode == 0, forced.stderr
    sandbox.wait_state(number, "closed", timeout=60)
    after_force = sandbox.audit(number)[-4:]
    assert any("-> spawned (forced)" in line for line in after_force), after_force
    assert "-> closed" in after_force[-1]
    assert sandbox.state(number).get("attempts", 0) <= 2
    assert sandbox.log().count("launch failed") <= 2


def test_a_long_github_outage_is_said_once_and_its_end_is_said(sandbox):
    sandbox.configure(github={"poll_interval_s": 0.2, "timeout_s": 2})
    process = sandbox.start()
    try:
        wait_for(
            lambda: "controller running" in sandbox.log(),
            timeout=60,
            message="the controller running",
        )
        # Each failed pass makes five attempts: ten faults fail two passes in a row.
        sandbox.forge.inject_faults("500", 10)
        wait_for(
            lambda: "GitHub answers again" in sandbox.log(),
            timeout=120,
            interval=0.2,
            message="the end of the outage said",
        )
    finally:
        assert sandbox.stop(process) == 0
    assert not sandbox.forge.faults.queue
    log = sandbox.log()
    assert log.count("github read failed") == 1, log[-3000:]
    assert "retried GET" not in log  # each retry is a debug line, not a warning


def test_ctrl_c_that_kills_the_git_of_a_step_leaves_the_step_for_the_next_start(sandbox, tmp_path):
    # Ctrl-C in a terminal signals the whole foreground process group: the controller
    # and the git it is running at that moment, which dies of it. A post-checkout hook
    # of the issue's new worktree sends that SIGINT, so it lands in the middle of a step.
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = hooks / "post-checkout"
    hook.write_text('#!/bin/sh\ncase "$PWD" in */worktrees/*) kill -INT 0; sleep 30 ;; esac\n')
    hook.chmod(0o755)
    number = sandbox.file("slug-dashes")
    hooked = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.hooksPath",
        "GIT_CONFIG_VALUE_0": str(hooks),
    }

    first = sandbox.start(env=hooked)
    assert first.wait(timeout=60) == 0, sandbox.log()
    log = sandbox.log()
    assert "received SIGINT" in log
    assert (
        "discovered -> worktree: branch and worktree ready: not done, the controller is stopping"
        in log
    )
    assert "Traceback" not in log and " ERROR " not in log and " WARNING " not in log, log
    # Not the issue's failure: no error, no retry time, nothing counted against it.
    state = sandbox.state(number)
    assert state["state"] == "discovered", state
    assert (state.get("error"), state.get("retry_at"), state.get("attempts", 0)) == (None, None, 0)

    # The next start adopts what the cut step left and goes on.
    sandbox.start(log_name="second.log")
    sandbox.wait_state(number, "working", "pr-open", "ci-green", "closed", timeout=90)
    assert len([w for w in sandbox.worktrees() if Path(w) != sandbox.repo_path]) == 1


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="remounting the state folder read-only needs root")
def test_a_state_folder_turned_read_only_is_said_once_and_its_end_is_said(sandbox):
    first = sandbox.file("slug-dashes")
    # Verbose, so the passes that find the folder read-only can be counted.
    with open(sandbox.root / "controller.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "controller", "-v", "--config", str(sandbox.config_path), "run"],
            cwd=sandbox.root,
            env=sandbox.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    sandbox.processes.append(process)
    sandbox.wait_state(first, "closed", timeout=120)
    try:
        _mount("--bind", str(sandbox.state_dir), str(sandbox.state_dir))
    except (subprocess.CalledProcessError, FileNotFoundError) as error:
        pytest.skip(f"cannot bind-mount here ({error})")
    try:
        _mount("-o", "remount,ro,bind", str(sandbox.state_dir))
        # A new issue wants a state file, and there is nowhere to write it.
        second = sandbox.file("median-even")
        wait_for(
            lambda: "Read-only file system" in sandbox.log(),
            timeout=60,
            message="the read-only folder to be said",
        )
        wait_for(
            lambda: (
                sandbox.log().count("the pass waits for the disk again") >= 3
                or process.poll() is not None
            ),
            timeout=60,
            message="more passes over the read-only folder",
        )
        assert process.poll() is None, sandbox.log()[-3000:]
        _mount("-o", "remount,rw,bind", str(sandbox.state_dir))
    finally:
        subprocess.run(["umount", "-l", str(sandbox.state_dir)], capture_output=True)
    sandbox.wait_state(second, "closed", timeout=120)
    assert sandbox.stop(process) == 0
    log = sandbox.log()
    assert "Traceback" not in log, log[-4000:]
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, errors
    assert str(sandbox.state_dir) in errors[0] and "mount it read-write" in errors[0], errors
    assert log.count("can be written again") == 1, log[-4000:]
