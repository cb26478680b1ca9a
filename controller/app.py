"""Builds a reconciler from a configuration: the adapters, the store, the profile.

Kept apart from the CLI so tests and the benchmark suite build the same object the
commands do. Nothing here decides anything; it only opens and closes things, in an
order that leaves no process or file handle behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from controller import prompts, screens
from controller.config import Config, ConfigError
from controller.github import GitHub, resolve_token
from controller.reconcile import Reconciler
from controller.sessions import Sessions
from controller.store import Store
from controller.worktrees import Worktrees, ensure_clone


def state_dir(config: Config, override: str | None) -> Path:
    return Path(override).resolve() if override else config.state_path.resolve()


def require_token(token: str | None) -> str:
    if not token:
        raise ConfigError(
            "no GitHub token: set GITHUB_TOKEN (or GH_TOKEN), or log in with `gh auth login`"
        )
    return token


@contextlib.contextmanager
def open_reconciler(
    config: Config,
    state_path: Path,
    *,
    settle: bool = True,
    token: str | None = None,
    github: GitHub | None = None,
    read_only: bool = False,
) -> Iterator[Reconciler]:
    """The reconciler and its adapters; `read_only` creates nothing (for --dry-run)."""
    if not config.github.repo:
        raise ConfigError("github.repo is not set; write OWNER/NAME in controller.yaml")
    try:
        profile = screens.load_profile(config.agent.profile)
    except screens.ProfileError as error:
        raise ConfigError(f"agent.profile: {error}") from None
    lacking = prompts.missing_templates(config.prompts_path)
    if lacking:
        raise ConfigError(f"prompts_dir: {lacking}")
    store = Store(state_path) if read_only else Store.open(state_path)
    own_github = github is None
    if github is None:
        token = require_token(token or resolve_token())
        github = GitHub.from_config(config.github, token)
    repo_path = config.path(config.repo.path)
    try:
        if not repo_path.exists() and not read_only:
            ensure_clone(repo_path, github.repository()["clone_url"])
        worktrees = Worktrees(
            repo_path,
            config.path(config.repo.worktree_dir),
            branch_template=config.repo.branch_template,
            base_branch=config.repo.base_branch,
        )
        try:
            sessions = Sessions(
                config.tmux.socket, width=config.tmux.width, height=config.tmux.height
            )
            yield Reconciler(
                config, store, github, sessions, worktrees, profile, settle=settle, token=token
            )
        finally:
            worktrees.close()
    finally:
        if own_github:
            github.close()
