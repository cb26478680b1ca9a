"""The scripted agent's work end to end against the sandbox forge and a real git origin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from controller.sandbox import issues
from controller.sandbox.forge import Forge
from tests.helpers import git, wait_for
from tests.sandbox.test_agent_tui import input_line, screen, start_agent, title, tmux


@pytest.fixture
def forge(tmp_path):
    forge = Forge(tmp_path / "forge", ci_command=f"{sys.executable} -m unittest -q").start()
    issues.seed_origin(forge.clone_url)
    yield forge
    forge.stop()


def file_issue(forge: Forge, sample: issues.SampleIssue) -> int:
    return forge.create_issue("alice", sample.title, sample.body, sample.labels)["number"]


def worktree(tmp_path, forge: Forge, branch: str):
    path = tmp_path / f"work-{branch.replace('/', '-')}"
    git(tmp_path, "clone", "-q", forge.clone_url, str(path))
    git(path, "checkout", "-q", "-b", branch)
    return path


def agent_env(forge: Forge, **extra: str) -> dict[str, str]:
    return {
        "GITHUB_API_URL": forge.url,
        "GITHUB_TOKEN": forge.token("agent"),
        "GITHUB_REPOSITORY": forge.repo,
        **extra,
    }


def api(forge: Forge, path: str):
    request = urllib.request.Request(
        f"{forge.url}/repos/{forge.repo}{path}",
        headers={"Authorization": f"token {forge.token('alice')}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def solve(cwd, forge: Forge, number: int, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.sandbox.agent",
            "solve",
            "--issue",
            str(number),
            *options,
        ],
        cwd=cwd,
        env={**os.environ, **agent_env(forge)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_solve_opens_waits_for_checks_merges_and_closes(tmp_path, forge):
    sample = issues.ISSUES[0]
    number = file_issue(forge, sample)
    work = worktree(tmp_path, forge, f"fix/{number}-slug")

    result = solve(work, forge, number)

    assert result.returncode == 0, result.stdout + result.stderr
    assert git(tmp_path, "--git-dir", forge.clone_url, "rev-parse", f"fix/{number}-slug")
    pulls = api(forge, "/pulls?state=all")
    assert len(pulls) == 1 and f"Closes #{number}" in pulls[0]["body"]
    pull = api(forge, f"/pulls/{pulls[0]['number']}")
    assert pull["merged"]
    runs = api(forge, f"/commits/{pull['head']['sha']}/check-runs")["check_runs"]
    assert [(run["name"], run["status"], run["conclusion"]) for run in runs] == [
        ("ci", "completed", "success")
    ]
    assert api(forge, f"/issues/{number}")["state"] == "closed"
    assert api(forge, f"/issues/{number}/comments")
    main = git(tmp_path, "--git-dir", forge.clone_url, "show", f"main:{sample.edits[0].path}")
    assert sample.edits[0].new in main

    again = solve(work, forge, number)

    assert again.returncode == 0, again.stderr
    assert len(api(forge, "/pulls?state=all")) == 1


def test_stop_after_commit_then_continue(tmp_path, forge):
    sample = issues.ISSUES[3]
    number = file_issue(forge, sample)
    work = worktree(tmp_path, forge, f"fix/{number}")

    first = solve(work, forge, number, "--stop-after", "commit")

    assert first.returncode == 0, first.stderr
    assert "Fix #" in git(work, "log", "-1", "--format=%s")
    assert not git(tmp_path, "--git-dir", forge.clone_url, "branch", "--list", f"fix/{number}")
    assert api(forge, "/pulls?state=all") == []

    second = solve(work, forge, number)

    assert second.returncode == 0, second.stderr
    assert git(work, "rev-list", "--count", "origin/main..HEAD") == "1"
    assert api(forge, f"/issues/{number}")["state"] == "closed"


def test_tui_agent_is_busy_then_idle_and_stalls_until_nudged(tmp_path, forge, tmux_socket):
    number = file_issue(forge, issues.ISSUES[2])
    work = worktree(tmp_path, forge, f"fix/{number}-median")
    start_agent(tmux_socket, work, agent_env(forge, SCRIPTED_AGENT_STALL="1"))
    wait_for(lambda: title(tmux_socket).startswith("✳"), message="the idle agent")
    prompt = (
        f"You are working on issue #{number} of the repository {forge.repo}, on the "
        f"branch `fix/{number}-median`. Please fix it."
    )

    tmux(tmux_socket, "send-keys", "-t", "agent", "-l", prompt)
    wait_for(lambda: "[Pasted text #1" in input_line(tmux_socket), message="the pasted prompt")
    tmux(tmux_socket, "send-keys", "-t", "agent", "Enter")

    def busy_capture():
        pane_title, lines = title(tmux_socket), screen(tmux_socket)
        spinning = any(line.startswith(f"✻ Working on #{number}…") for line in lines)
        return (pane_title, lines) if spinning and "\u2800" <= pane_title[:1] <= "\u28ff" else None

    pane_title, busy_screen = wait_for(busy_capture, message="the busy spinner and title")
    screens = pytest.importorskip("controller.screens")
    reading = screens.classify(
        "\n".join(busy_screen),
        screens.load_profile("scripted"),
        title=pane_title,
        current_command="python3",
    )
    assert reading.cls == "busy"
    wait_for(
        lambda: any("Committed the fix." in line for line in screen(tmux_socket)),
        timeout=30,
        message="the stall after the commit",
    )
    wait_for(lambda: title(tmux_socket).startswith("✳"), message="idle after the commit")
    assert api(forge, "/pulls?state=all") == []

    tmux(tmux_socket, "send-keys", "-t", "agent", "Please continue.", "Enter")

    wait_for(
        lambda: api(forge, f"/issues/{number}")["state"] == "closed",
        timeout=60,
        message="the issue closed by the merge",
    )
    wait_for(lambda: any("Done:" in line for line in screen(tmux_socket)), message="done")
    assert title(tmux_socket).startswith("✳") or wait_for(
        lambda: title(tmux_socket).startswith("✳")
    )


@pytest.mark.claude
def test_real_claude_code_on_the_stand_in_model_closes_an_issue(tmp_path, forge):
    from controller.sandbox.model import ModelServer
    from tests.sandbox.test_model import claude

    number = file_issue(forge, issues.ISSUES[4])
    work = worktree(tmp_path, forge, f"fix/{number}-hours")
    model = ModelServer().start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in agent_env(forge).items():
                patch.setenv(name, value)
            answer = claude(
                model,
                tmp_path,
                work,
                f"Please fix issue #{number} on branch fix/{number}-hours.",
                "--dangerously-skip-permissions",
            )
    finally:
        model.stop()

    assert "outcome: merged" in answer["result"]
    assert api(forge, f"/issues/{number}")["state"] == "closed"
