"""The sandbox forge's git side: the bare repository that plays the role of GitHub's.

The forge reads branch heads from this repository on every request, so a `git push`
moves a pull request exactly as it does on GitHub; merges are real commits written with
plumbing commands, so the bare repository never needs a work tree. Everything runs git
through argument lists, never a shell, and this module never touches the forge's JSON.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

SHA_PATTERN = re.compile(r"[0-9a-f]{40}")
FORGE_IDENTITY = ("Sandbox Forge", "forge@sandbox.invalid")


class GitError(Exception):
    """A git command failed; the message carries its arguments and stderr."""


def run_git(
    git_dir: Path | str,
    *args: str,
    input: str | None = None,
    identity: tuple[str, str] = FORGE_IDENTITY,
    check: bool = True,
) -> subprocess.CompletedProcess:
    name, email = identity
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME=name,
        GIT_AUTHOR_EMAIL=email,
        GIT_COMMITTER_NAME=name,
        GIT_COMMITTER_EMAIL=email,
        GIT_TERMINAL_PROMPT="0",
    )
    result = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], input=input, capture_output=True, text=True, env=env
    )
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed in {git_dir}: {result.stderr.strip()}")
    return result


def init_bare(git_dir: Path, default_branch: str = "main") -> None:
    """Create the bare repository with one commit holding a README; leave an existing one."""
    if (git_dir / "HEAD").exists():
        return
    git_dir.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", default_branch, str(git_dir)],
        check=True,
        capture_output=True,
    )
    readme = run_git(
        git_dir,
        "hash-object",
        "-w",
        "--stdin",
        input="# sample\n\nThis repository lives in the sandbox forge.\n",
    )
    tree = run_git(git_dir, "mktree", input=f"100644 blob {readme.stdout.strip()}\tREADME.md\n")
    commit = run_git(git_dir, "commit-tree", tree.stdout.strip(), "-m", "Initial commit")
    run_git(git_dir, "update-ref", f"refs/heads/{default_branch}", commit.stdout.strip())
    log.info("created bare repository %s", git_dir)


def branch_heads(git_dir: Path) -> dict[str, str]:
    result = run_git(
        git_dir, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/"
    )
    heads = {}
    for line in result.stdout.splitlines():
        name, _, sha = line.rpartition(" ")
        heads[name] = sha
    return heads


def refs_stamp(git_dir: Path) -> tuple:
    """What the branch refs look like on disk, read without starting git.

    git updates a ref by renaming a new file over it, so any push changes an inode or
    a modification time here; equal stamps mean the branches have not moved.
    """
    entries = []
    for folder, _dirs, files in os.walk(git_dir / "refs" / "heads"):
        for name in files:
            try:
                st = os.stat(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            entries.append((folder, name, st.st_ino, st.st_mtime_ns, st.st_size))
    try:
        packed = os.stat(git_dir / "packed-refs")
        entries.append(("", "packed-refs", packed.st_ino, packed.st_mtime_ns, packed.st_size))
    except FileNotFoundError:
        pass
    return tuple(sorted(entries))


def resolve_commit(git_dir: Path, ref: str) -> str | None:
    """A branch, tag or full SHA to the commit it names; None when there is none."""
    if ref.startswith("-"):
        return None
    candidates = [ref] if SHA_PATTERN.fullmatch(ref) else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    for candidate in candidates:
        result = run_git(
            git_dir, "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False
        )
        if result.returncode == 0:
            return result.stdout.strip()
    return None


def is_ancestor(git_dir: Path, ancestor: str, descendant: str) -> bool:
    result = run_git(git_dir, "merge-base", "--is-ancestor", ancestor, descendant, check=False)
    return result.returncode == 0


def merged_tree(git_dir: Path, base_sha: str, head_sha: str) -> str | None:
    """The tree of merging head into base, or None when they conflict."""
    result = run_git(git_dir, "merge-tree", "--write-tree", base_sha, head_sha, check=False)
    if result.returncode == 1:
        return None
    if result.returncode != 0:
        raise GitError(f"git merge-tree failed in {git_dir}: {result.stderr.strip()}")
    return result.stdout.splitlines()[0].strip()


def merge(
    git_dir: Path,
    base_ref: str,
    head_sha: str,
    message: str,
    method: str,
    identity: tuple[str, str],
) -> str | None:
    """Merge head into the base branch for real; the new base SHA, or None on conflict."""
    base_sha = resolve_commit(git_dir, base_ref)
    if base_sha is None:
        raise GitError(f"base branch {base_ref} does not exist in {git_dir}")
    tree = merged_tree(git_dir, base_sha, head_sha)
    if tree is None:
        return None
    parents = ["-p", base_sha] if method != "merge" else ["-p", base_sha, "-p", head_sha]
    commit = run_git(
        git_dir, "commit-tree", tree, *parents, "-m", message, identity=identity
    ).stdout.strip()
    run_git(git_dir, "update-ref", f"refs/heads/{base_ref}", commit, base_sha)
    return commit


def checkout(git_dir: Path, sha: str, destination: Path) -> None:
    """A fresh work tree of one commit, for a CI run; shares objects with the bare repo."""
    subprocess.run(
        ["git", "clone", "-q", "--shared", "--no-checkout", str(git_dir), str(destination)],
        check=True,
        capture_output=True,
        text=True,
    )
    subprocess.run(
        ["git", "-C", str(destination), "checkout", "-q", "--detach", sha],
        check=True,
        capture_output=True,
        text=True,
    )
