"""A worktree on a branch someone else made for the issue (the head of their PR)."""

from __future__ import annotations

from controller.worktrees import Worktrees
from tests.helpers import git


def test_a_remote_branch_is_adopted_tracked_and_removed_only_when_pushed(tmp_path, origin, clone):
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(origin), str(other))
    git(other, "switch", "-q", "-c", "someone/fix-7")
    (other / "fix.txt").write_text("a start\n")
    git(other, "add", "fix.txt")
    git(other, "commit", "-q", "-m", "a start on #7")
    git(other, "push", "-q", "origin", "someone/fix-7")

    with Worktrees(clone, tmp_path / "worktrees") as worktrees:
        info = worktrees.ensure(7, "someone/fix-7")
        assert info.branch == "someone/fix-7"
        assert (info.path / "fix.txt").read_text() == "a start\n"
        assert git(info.path, "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/someone/fix-7"
        assert worktrees.ensure(7, "someone/fix-7").path == info.path  # adopted, not remade
        assert "fix/issue-7-a" not in git(clone, "branch", "--list")

        result = worktrees.remove(7, "someone/fix-7")
        assert result.worktree_removed and result.branch_deleted
        assert not info.path.exists()


def test_a_named_branch_that_vanished_gives_way_to_a_fresh_one(tmp_path, clone):
    with Worktrees(clone, tmp_path / "worktrees") as worktrees:
        info = worktrees.ensure(7, "fix/issue-7-a-deleted-after-merge")
        assert info.branch == "fix/issue-7-a" and info.path.is_dir()
