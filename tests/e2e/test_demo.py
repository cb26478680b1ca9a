"""`controller demo`, the README's first command, run as a new user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller import machine
from controller.sandbox import demo
from tests.helpers import git

pytestmark = pytest.mark.e2e

CLAUDE = Path(demo.PROJECT_ROOT) / ".tools" / "node_modules" / ".bin" / "claude"


def run_demo(directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "controller", "demo", "--dir", str(directory), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


def check_finished(directory: Path, result: subprocess.CompletedProcess, count: int) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"all {count} issues closed" in result.stdout
    state_dir = directory / "state"
    for number in range(1, count + 1):
        data = yaml.safe_load((state_dir / f"issue-{number}.yaml").read_text())
        assert data["state"] == "closed" and data["pr"]
        subjects = git(state_dir, "log", "--reverse", "--format=%s", "--",
                       f"issue-{number}.yaml").splitlines()
        path = [s.split(": ", 1)[0].split(" -> ", 1)[1] for s in subjects]
        assert path[0] == "discovered" and path[-1] == "closed"
        assert all(machine.allowed(a, b) for a, b in zip(path, path[1:], strict=False))
        for commit in git(state_dir, "log", "--format=%H", "--", f"issue-{number}.yaml"
                          ).splitlines():
            touched = git(state_dir, "show", "--name-only", "--format=", commit).splitlines()
            assert touched == [f"issue-{number}.yaml"]
    sessions = subprocess.run(["tmux", "-L", demo.SOCKET, "list-sessions"],
                              capture_output=True, text=True)
    assert sessions.returncode != 0 or not sessions.stdout.strip()
    worktrees = git(directory / "repo", "worktree", "list", "--porcelain")
    assert worktrees.count("worktree ") == 1
    # Each agent's own folder (config, transcripts) went with its worktree.
    assert not list(directory.glob("**/.agents/issue-*"))
    log = (directory / "controller.log").read_text()
    assert "sandbox-demo" not in log


def test_the_demo_closes_three_issues_with_the_scripted_agent(tmp_path):
    directory = tmp_path / "demo"
    result = run_demo(directory)
    check_finished(directory, result, 3)


@pytest.mark.claude
def test_the_demo_closes_an_issue_with_the_real_claude_code_cli(tmp_path):
    assert CLAUDE.exists(), "the pinned Claude Code CLI is missing: run scripts/bootstrap " \
                            "--with-claude (make test does)"
    directory = tmp_path / "demo"
    result = run_demo(directory, "--agent", "claude", "--issues", "1")
    check_finished(directory, result, 1)


def test_the_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("mine\n")
    result = run_demo(tmp_path)
    assert result.returncode == 2 and "not empty" in result.stderr
    assert (tmp_path / "something").read_text() == "mine\n"


def test_the_demo_refuses_a_file_for_its_folder(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    result = run_demo(target)
    assert result.returncode == 2, result.stderr
    assert f"{target} is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr and target.read_text() == "mine\n"
    inside = run_demo(target / "sub")
    assert inside.returncode == 2 and "cannot make the folder" in inside.stderr
    assert "Traceback" not in inside.stderr
