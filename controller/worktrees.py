"""One branch and one git worktree per issue, found again after any crash.

The controller may die between creating a branch and creating its worktree, or a person
may delete a worktree folder by hand. Every call here therefore looks at what git
already has (one `git worktree list --porcelain`, the local branches, the remote's
branches) and adopts it before creating anything, so an issue never ends up with two
branches or two worktrees.

This is the only module that imports GitPython. It must never use a folder git does not
know as a worktree (git would walk up to the parent repository and the agent would edit
the wrong tree), never force-remove a worktree holding work that exists nowhere else,
and never write a token into a remote URL or a file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import string
from dataclasses import dataclass
from pathlib import Path

import git

from controller.faults import crash_point
from controller.processes import pid_alive

log = logging.getLogger(__name__)

SUFFIXES = string.ascii_lowercase
# What to do about a `worktree:` line that names a folder not the issue's own.
WORKTREE_FIX = "delete the worktree: line to let the controller make one"

# Reads the token from the environment each time git asks, so it is never stored.
_CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; echo username=x-access-token; echo "password=${%s}"; }; f'
)


class WorktreeError(Exception):
    """A worktree or branch that cannot be used as it is; the message says what to do."""


@dataclass(frozen=True)
class WorktreeInfo:
    path: Path
    branch: str
    head: str
    prunable: bool = False


@dataclass(frozen=True)
class RemovalResult:
    worktree_removed: bool
    branch_deleted: bool
    kept_reason: str | None = None


def ensure_clone(repo_path: Path, clone_url: str, *, token_env: str = "GITHUB_TOKEN") -> bool:
    """Clone `clone_url` into `repo_path` unless it exists; True when a clone was made.

    For https the token is read from the environment variable `token_env` by a credential
    helper at the moment git needs it; neither the URL nor the repository's config holds it.
    """
    repo_path = Path(repo_path)
    if repo_path.exists():
        if not (repo_path / ".git").exists():
            raise WorktreeError(
                f"{repo_path}: exists but is not a git clone; move it away or point "
                "repo.path at a clone"
            )
        return False
    options: list[str] = []
    if clone_url.startswith("https://"):
        options = ["-c", f"credential.helper={_CREDENTIAL_HELPER % token_env}"]
    # Cloned beside the target and renamed into place, so a clone cut short leaves no
    # half-made repository at repo.path, and two controllers started at once (the
    # second will find the lock held) do not both clone into one folder.
    _remove_abandoned_clones(repo_path)
    partial = repo_path.with_name(f".{repo_path.name}.cloning-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        git.Git().execute(["git", *options, "clone", "-q", "--", clone_url, str(partial)])
        if options:
            with git.Repo(partial) as repo:
                repo.git.config("credential.helper", _CREDENTIAL_HELPER % token_env)
        try:
            os.rename(partial, repo_path)
        except OSError:
            if not (repo_path / ".git").exists():
                raise
            log.info("%s was cloned by another process meanwhile; using it", repo_path)
            return False
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    log.info("cloned %s into %s", clone_url, repo_path)
    return True


def _remove_abandoned_clones(repo_path: Path) -> None:
    """Deletes the partial clones of processes that died while cloning."""
    pattern = re.compile(rf"^\.{re.escape(repo_path.name)}\.cloning-([0-9]+)$")
    try:
        entries = list(repo_path.parent.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed %s, a clone cut short", entry)


class Worktrees:
    """The worktrees of one local clone, one per issue, under `worktree_dir`."""

    def __init__(
        self,
        repo_path: Path,
        worktree_dir: Path,
        *,
        branch_template: str = "fix/issue-{number}-{suffix}",
        base_branch: str = "",
        remote: str = "origin",
    ):
        self.repo_path = Path(repo_path)
        self.worktree_dir = Path(worktree_dir)
        self.branch_template = branch_template
        self.base_branch = base_branch
        self.remote = remote
        self._repo: git.Repo | None = None

    def __enter__(self) -> Worktrees:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def ensure_clone(self, clone_url: str, *, token_env: str = "GITHUB_TOKEN") -> bool:
        return ensure_clone(self.repo_path, clone_url, token_env=token_env)

    @property
    def _git(self) -> git.Git:
        if self._repo is None:
            try:
                self._repo = git.Repo(self.repo_path)
            except (git.NoSuchPathError, git.InvalidGitRepositoryError):
                raise WorktreeError(
                    f"{self.repo_path}: not a git clone; set repo.path to a clone of the "
                    "repository, or let the controller clone it"
                ) from None
        return self._repo.git

    def refuse(self, number: int, path: Path | str, branch: str | None = None) -> str | None:
        """Why `path` cannot be the worktree of `number`, or None when it can.

        A `worktree:` line edited by hand may name the main clone or any other folder;
        an agent started there would edit the wrong tree, and a cleanup would try to
        remove it. Only the issue's own folder, or a worktree git lists on the issue's
        branch (an adopted one), is used.
        """
        path = Path(path)
        if not path.is_dir() or path.resolve() == self.path_for(number).resolve():
            return None  # a missing folder is made again where it belongs
        if path.resolve() == self.repo_path.resolve():
            return f"worktree {path} is the main clone; {WORKTREE_FIX}"
        listed = {info.path.resolve(): info for info in self.list().values()}
        info = listed.get(path.resolve())
        if info is None:
            return f"worktree {path} is not a git worktree of {self.repo_path}; {WORKTREE_FIX}"
        mine = bool(info.branch) and (
            info.branch == branch or self._branch_pattern(number).match(info.branch) is not None
        )
        if not mine:
            return (
                f"worktree {path} is the worktree of branch {info.branch or '(detached)'}, "
                f"not of #{number}; {WORKTREE_FIX}"
            )
        return None

    def path_for(self, number: int) -> Path:
        return (self.worktree_dir / f"issue-{number}").absolute()

    def branch_name(self, number: int, suffix: str) -> str:
        return self.branch_template.format(number=number, suffix=suffix)

    def _branch_pattern(self, number: int) -> re.Pattern[str]:
        parts = re.split(r"(\{number\}|\{suffix\})", self.branch_template)
        regex = "".join(
            str(number) if p == "{number}" else "([a-z])" if p == "{suffix}" else re.escape(p)
            for p in parts
        )
        return re.compile(regex + r"\Z")

    def list(self) -> dict[str, WorktreeInfo]:
        """The worktrees git knows, keyed by branch name (detached ones by path)."""
        output = self._git.worktree("list", "--porcelain")
        found: dict[str, WorktreeInfo] = {}
        for block in output.strip().split("\n\n"):
            fields: dict[str, str] = {}
            for line in block.splitlines():
                key, _, value = line.partition(" ")
                fields[key] = value
            if "worktree" not in fields or "bare" in fields:
                continue
            branch = fields.get("branch", "").removeprefix("refs/heads/")
            path = Path(fields["worktree"])
            found[branch or str(path)] = WorktreeInfo(
                path=path,
                branch=branch,
                head=fields.get("HEAD", ""),
                prunable="prunable" in fields or not path.exists(),
            )
        return found

    def _local_branches(self) -> list[str]:
        output = self._git.execute(
            ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads"]
        )
        return output.split()

    def _remote_branches(self) -> list[str]:
        output = self._git.execute(
            ["git", "for-each-ref", "--format=%(refname)", f"refs/remotes/{self.remote}"]
        )
        prefix = f"refs/remotes/{self.remote}/"
        return [ref.removeprefix(prefix) for ref in output.split() if not ref.endswith("/HEAD")]

    def _issue_branches(self, number: int, names: list[str]) -> list[str]:
        pattern = self._branch_pattern(number)
        matches = [name for name in names if pattern.match(name)]
        return sorted(matches, key=lambda name: pattern.match(name).groups())

    def find(self, number: int, branch: str | None = None) -> WorktreeInfo | None:
        """The issue's live worktree, or its local branch (with no usable worktree yet).

        `branch` names a branch adopted for the issue whose name the template does not
        give (the head of a pull request someone else opened for it).
        """
        worktrees = self.list()
        local = self._local_branches()
        branches = self._issue_branches(number, local)
        if branch and branch in local and branch not in branches:
            branches.insert(0, branch)
        for branch in branches:
            info = worktrees.get(branch)
            if info is not None and not info.prunable:
                return info
        if branches:
            head = self._git.rev_parse(branches[0])
            return WorktreeInfo(
                path=self.path_for(number), branch=branches[0], head=head, prunable=True
            )
        return None

    def fetch(self) -> None:
        self._git.fetch(self.remote, "--prune", "--quiet")

    def _base_ref(self) -> str:
        if self.base_branch:
            return f"{self.remote}/{self.base_branch}"
        try:
            ref = self._git.symbolic_ref(f"refs/remotes/{self.remote}/HEAD")
        except git.GitCommandError:
            self._git.remote("set-head", self.remote, "--auto")
            ref = self._git.symbolic_ref(f"refs/remotes/{self.remote}/HEAD")
        return ref.removeprefix("refs/remotes/")

    def _check_folder_unknown(self, path: Path) -> None:
        if path.exists():
            raise WorktreeError(
                f"{path}: folder exists but git does not know it as a worktree of "
                f"{self.repo_path}; move it away or delete it, then the controller creates "
                "the worktree again"
            )

    def ensure(self, number: int, branch: str | None = None) -> WorktreeInfo:
        """Fetch, then adopt the issue's worktree or branch, or create both.

        With `branch`, the worktree is made on that existing branch (local, or tracked
        from the remote) instead of a new one from the template.
        """
        self.fetch()
        if branch:
            return self._ensure_on(number, branch)
        found = self.find(number)
        if found is not None and not found.prunable:
            log.debug("adopted worktree %s for #%s", found.path, number)
            return found

        path = self.path_for(number)
        self._git.worktree("prune")
        known = {info.path.absolute() for info in self.list().values()}
        if path in known:
            raise WorktreeError(
                f"{path}: a worktree of another branch already sits here; remove it with "
                f"`git worktree remove {path}` in {self.repo_path}"
            )
        self._check_folder_unknown(path)
        path.parent.mkdir(parents=True, exist_ok=True)

        if found is not None:
            self._git.worktree("add", str(path), found.branch)
            log.info("recreated worktree for #%s on existing branch %s", number, found.branch)
            return self._info_for(found.branch)

        taken = set(self._local_branches()) | set(self._remote_branches())
        for suffix in SUFFIXES:
            branch = self.branch_name(number, suffix)
            if branch not in taken:
                break
        else:
            raise WorktreeError(
                f"#{number}: every branch name {self.branch_name(number, 'a')} .. "
                f"{self.branch_name(number, 'z')} is taken; delete old ones on the remote"
            )
        base = self._base_ref()
        # Two steps, so the crash between them (a branch with no worktree) can be tested;
        # the next `ensure` adopts the branch through `find`.
        self._git.branch("--no-track", branch, base)
        crash_point("after-branch")
        self._git.worktree("add", str(path), branch)
        log.info("created worktree %s on new branch %s from %s for #%s", path, branch, base, number)
        return self._info_for(branch)

    def _ensure_on(self, number: int, branch: str) -> WorktreeInfo:
        info = self.list().get(branch)
        if info is not None and not info.prunable:
            return info
        path = self.path_for(number)
        self._git.worktree("prune")
        self._check_folder_unknown(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if branch in self._local_branches():
            self._git.worktree("add", str(path), branch)
        elif branch in self._remote_branches():
            self._git.worktree("add", "--track", "-b", branch, str(path), f"{self.remote}/{branch}")
        else:
            # Gone (deleted after its merge, say): the issue gets a fresh branch instead.
            log.info(
                "branch %s of #%s exists neither locally nor on %s; making a new one",
                branch,
                number,
                self.remote,
            )
            return self.ensure(number)
        log.info("created worktree %s on adopted branch %s for #%s", path, branch, number)
        return self._info_for(branch)

    def _info_for(self, branch: str) -> WorktreeInfo:
        info = self.list().get(branch)
        if info is None:
            raise WorktreeError(f"{branch}: git did not list the worktree it just created")
        return info

    def _unpushed(self, ref: str) -> int:
        output = self._git.rev_list("--count", ref, "--not", f"--remotes={self.remote}")
        return int(output.strip() or 0)

    def remove(self, number: int, branch: str | None = None) -> RemovalResult:
        """Remove the issue's worktree and, when it is all on the remote, its branch."""
        try:
            self.fetch()
        except git.GitCommandError as error:
            log.warning("fetch failed before removing #%s: %s", number, error.stderr.strip())
        found = self.find(number, branch)
        if found is None:
            self._git.worktree("prune")
            return RemovalResult(worktree_removed=False, branch_deleted=False)

        if not found.prunable:
            status = self._git.execute(["git", "-C", str(found.path), "status", "--porcelain"])
            if status.strip():
                reason = (
                    f"{found.path} has uncommitted changes; kept it so no work is lost "
                    "(commit and push them, or delete the folder by hand)"
                )
                log.warning("kept worktree of #%s: uncommitted changes", number)
                return RemovalResult(False, False, reason)
            force = ["--force"] if self._unpushed(found.branch) == 0 else []
            self._git.worktree("remove", *force, str(found.path))
        self._git.worktree("prune")

        unpushed = self._unpushed(found.branch)
        if unpushed:
            commits = f"{unpushed} commit" + ("" if unpushed == 1 else "s")
            log.info(
                "kept branch %s of #%s: %s not on %s",
                found.branch,
                number,
                commits,
                self.remote,
            )
            return RemovalResult(
                True, False, f"branch {found.branch} has {commits} not on {self.remote}; kept it"
            )
        self._git.branch("-D", found.branch)
        log.info("removed worktree and branch %s of #%s", found.branch, number)
        return RemovalResult(True, True)


__all__ = [
    "WORKTREE_FIX",
    "Worktrees",
    "WorktreeInfo",
    "RemovalResult",
    "WorktreeError",
    "ensure_clone",
]
