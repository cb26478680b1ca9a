"""Worktrees against a real clone with a bare origin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from git import GitCommandError

from controller.worktrees import WorktreeError, Worktrees, ensure_clone
from tests.helpers import git, wait_for


@pytest.fixture
def worktrees(tmp_path, clone):
    with Worktrees(clone, tmp_path / "worktrees") as trees:
        yield trees


def test_creates_branch_from_remote_default_and_is_idempotent(worktrees, clone):
    info = worktrees.ensure(7)

    assert info.branch == "fix/issue-7-a"
    assert info.path == worktrees.path_for(7)
    assert (info.path / "README.md").read_text() == "sample\n"
    assert info.head == git(clone, "rev-parse", "origin/main")
    assert git(info.path, "config", "--get", "branch.fix/issue-7-a.merge", check=False) == ""
    assert worktrees.ensure(7) == info
    assert list(worktrees.list()) == ["main", "fix/issue-7-a"]


def test_skips_suffixes_taken_locally_and_on_the_remote(worktrees, clone):
    git(clone, "branch", "fix/issue-7-a")
    git(clone, "branch", "-D", "fix/issue-7-a")
    git(clone, "push", "-q", "origin", "main:fix/issue-7-a")
    git(clone, "branch", "fix/issue-70-a")

    info = worktrees.ensure(7)

    assert info.branch == "fix/issue-7-b"


def test_taken_remote_and_local_suffixes_together(worktrees, clone):
    git(clone, "push", "-q", "origin", "main:fix/issue-3-a")
    git(clone, "fetch", "-q")
    assert worktrees.ensure(3).branch == "fix/issue-3-b"
    assert worktrees.remove(3).branch_deleted
    git(clone, "branch", "fix/issue-3-b")
    git(clone, "branch", "-D", "fix/issue-3-b")
    assert worktrees.ensure(3).branch == "fix/issue-3-b"


def test_adopts_branch_left_by_a_crash_before_the_worktree(worktrees, clone):
    git(clone, "branch", "--no-track", "fix/issue-5-c", "origin/main")

    info = worktrees.ensure(5)

    assert info.branch == "fix/issue-5-c"
    assert info.path.is_dir()
    assert worktrees.find(5) == info


def test_recovers_a_stale_worktree_whose_folder_is_gone(worktrees):
    first = worktrees.ensure(9)
    (first.path / "work.txt").write_text("x")
    git(first.path, "add", "work.txt")
    git(first.path, "commit", "-qm", "work")
    shutil.rmtree(first.path)

    again = worktrees.ensure(9)

    assert again.branch == first.branch
    assert (again.path / "work.txt").read_text() == "x"


def test_refuses_a_folder_git_does_not_know(worktrees):
    stray = worktrees.path_for(4)
    stray.mkdir(parents=True)

    with pytest.raises(WorktreeError, match=str(stray)):
        worktrees.ensure(4)
    assert not any(b.startswith("fix/issue-4") for b in worktrees.list())


def test_removal_keeps_uncommitted_then_unpushed_work(worktrees, clone):
    info = worktrees.ensure(2)
    (info.path / "fix.py").write_text("print(1)\n")

    kept = worktrees.remove(2)
    assert not kept.worktree_removed and "uncommitted" in kept.kept_reason
    assert (info.path / "fix.py").exists()

    git(info.path, "add", "fix.py")
    git(info.path, "commit", "-qm", "fix")
    result = worktrees.remove(2)
    assert result.worktree_removed and not result.branch_deleted
    assert result.kept_reason == "branch fix/issue-2-a has 1 commit not on origin; kept it"
    assert not info.path.exists()
    assert git(clone, "rev-parse", "--verify", "fix/issue-2-a")

    worktrees.ensure(2)
    git(info.path, "push", "-q", "origin", "fix/issue-2-a")
    (info.path / "build.log").write_text("ignored by nobody\n")
    git(info.path, "add", "build.log")
    git(info.path, "commit", "-qm", "log")
    git(info.path, "push", "-q", "origin", "fix/issue-2-a")
    done = worktrees.remove(2)
    assert done.worktree_removed and done.branch_deleted
    assert git(clone, "branch", "--list", "fix/issue-2-a") == ""
    assert worktrees.find(2) is None


def _git_children() -> list[str]:
    names = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and "git" in cmdline:
            names.append(cmdline)
    return names


def test_close_leaves_no_git_processes(tmp_path, clone):
    with Worktrees(clone, tmp_path / "wt") as trees:
        trees.ensure(1)
        assert trees._repo.commit("HEAD").tree.blobs  # starts GitPython's cat-file helpers
        assert _git_children()
    assert _git_children() == []


def test_ensure_clone_clones_once_without_a_token_in_the_url(tmp_path, origin):
    target = tmp_path / "fresh"
    assert ensure_clone(target, str(origin))
    assert not ensure_clone(target, str(origin))
    assert git(target, "remote", "get-url", "origin") == str(origin)
    (tmp_path / "plain").mkdir()
    with pytest.raises(WorktreeError, match="not a git clone"):
        ensure_clone(tmp_path / "plain", str(origin))


def test_two_processes_cloning_at_once_both_end_with_one_clone(tmp_path, origin):
    # Two controllers started together on a fresh setup each find no clone and clone.
    target = tmp_path / "repo"
    go = tmp_path / "go"
    script = (
        "import sys, time; from pathlib import Path; from controller.worktrees import "
        "ensure_clone\nPath(sys.argv[3] + '.' + str(time.monotonic_ns())).touch()\n"
        "while not Path(sys.argv[3]).exists(): time.sleep(0.001)\n"
        "ensure_clone(Path(sys.argv[1]), sys.argv[2])"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(target), str(origin), str(go)])
        for _ in range(6)
    ]
    # All interpreters are up before any clone begins, so the clones run together.
    wait_for(lambda: len(list(tmp_path.glob("go.*"))) == 6, timeout=30, message="ready")
    go.touch()
    assert [proc.wait(timeout=60) for proc in procs] == [0] * 6
    assert git(target, "rev-parse", "--is-inside-work-tree") == "true"
    assert not list(tmp_path.glob(".repo.cloning-*"))


def test_a_clone_cut_short_leaves_nothing_at_the_target(tmp_path, origin):
    target = tmp_path / "repo"
    dead = subprocess.Popen(["true"])
    dead.wait()
    abandoned = tmp_path / f".repo.cloning-{dead.pid}"
    (abandoned / ".git").mkdir(parents=True)
    with pytest.raises(GitCommandError):
        ensure_clone(target, str(tmp_path / "no-such-origin.git"))
    assert not target.exists()
    assert not abandoned.exists()
    assert not list(tmp_path.glob(".repo.cloning-*"))
    assert ensure_clone(target, str(origin))


def test_a_worktree_line_is_refused_unless_it_names_the_issues_own(worktrees, clone, tmp_path):
    own = worktrees.ensure(3)
    other = worktrees.ensure(4)
    fix = "delete the worktree: line to let the controller make one"
    assert worktrees.refuse(3, own.path) is None
    assert worktrees.refuse(3, tmp_path / "gone") is None  # made again where it belongs
    assert worktrees.refuse(3, clone) == f"worktree {clone} is the main clone; {fix}"
    assert worktrees.refuse(3, other.path) == (
        f"worktree {other.path} is the worktree of branch {other.branch}, not of #3; {fix}"
    )
    assert worktrees.refuse(4, other.path) is None
    stray = tmp_path / "stray"
    stray.mkdir()
    assert worktrees.refuse(3, stray) == (
        f"worktree {stray} is not a git worktree of {worktrees.repo_path}; {fix}"
    )
