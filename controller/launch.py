"""What an agent is started with: its command, its exact environment, its config files.

An agent runs unattended with the power to run commands, so it gets only the
environment it needs: PATH, HOME, LANG, TERM, and what its profile and the
configuration name. The GitHub token reaches it only when the configuration says so.

Some agents need files written before they start so that no first-run screen waits for
a person. Those preparers are built in and chosen by the profile's `setup` name. The
"claude-code" preparer gives each worker its own config folder, so ten agents started at
once never write one shared config file.

This module never starts a process and never imports tmux or git libraries; it returns
the command and environment for the sessions adapter to run.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

BASE_VARIABLES = ("PATH", "HOME", "LANG")
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")


class LaunchError(Exception):
    """An agent that cannot be started as configured; the message says what to fix."""


def write_atomically(path: Path, text: str, *, durable: bool = True) -> None:
    """Write `text` to `path` so a reader sees the old file or the new one, never half.

    `durable` forces the text to the disk before the rename; a file that lives for a
    moment and holds secrets is better never written there at all.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def agent_home(worktree: Path, number: int) -> Path:
    """The per-worker folder beside the worktrees, outside any git checkout."""
    return Path(worktree).absolute().parent / ".agents" / f"issue-{number}"


def prepare_claude_code(*, number: int, worktree: Path, env: dict[str, str]) -> None:
    """Write Claude Code's config so it starts straight at an idle prompt."""
    folder = agent_home(worktree, number)
    worktree = Path(worktree).absolute()
    config_path = folder / ".claude.json"
    try:
        state = json.loads(config_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        state = {}
    if not isinstance(state, dict):
        state = {}

    state["hasCompletedOnboarding"] = True
    state.setdefault("numStartups", 1)
    key = env.get("ANTHROPIC_API_KEY", "")
    if key:
        responses = state.setdefault("customApiKeyResponses", {})
        approved = responses.setdefault("approved", [])
        responses.setdefault("rejected", [])
        if key[-20:] not in approved:
            approved.append(key[-20:])
    projects = state.setdefault("projects", {})
    project = projects.setdefault(str(worktree), {})
    project["hasTrustDialogAccepted"] = True
    project["hasCompletedProjectOnboarding"] = True
    write_atomically(config_path, json.dumps(state, indent=2) + "\n")

    settings_path = folder / "settings.json"
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        settings = {}
    if not isinstance(settings, dict):
        settings = {}
    settings["skipDangerousModePermissionPrompt"] = True
    write_atomically(settings_path, json.dumps(settings, indent=2) + "\n")

    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    env["CLAUDE_CONFIG_DIR"] = str(folder)
    env["CLAUDE_CODE_TMPDIR"] = str(folder / "tmp")
    env.setdefault("DISABLE_AUTOUPDATER", "1")
    if os.geteuid() == 0:
        # Claude Code refuses --dangerously-skip-permissions as root without it.
        env.setdefault("IS_SANDBOX", "1")
    log.debug("prepared claude code config for #%s in %s", number, folder)


PREPARERS: dict[str, Callable[..., None]] = {"claude-code": prepare_claude_code}


def agent_launch(
    profile,
    config,
    *,
    number: int,
    worktree: Path,
    resume: bool = False,
    environ: Mapping[str, str] = os.environ,
    token: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The agent's command and its complete environment, after running the preparer.

    `token` is the controller's own GitHub token (from wherever it was read); it is
    passed on only when the configuration says so.
    """
    if config.agent.command:
        command = shlex.split(config.agent.command)
    elif resume and getattr(profile, "resume_command", None):
        command = list(profile.resume_command)
    else:
        command = list(profile.command)
    if not command:
        raise LaunchError(
            f"profile {profile.name!r} has no command and agent.command is empty; set one of them"
        )

    env = {name: environ[name] for name in BASE_VARIABLES if name in environ}
    env.setdefault("LANG", "C.UTF-8")
    env["TERM"] = "xterm-256color"
    for name in [*getattr(profile, "pass_env", []), *config.agent.pass_env]:
        if name in environ and name not in TOKEN_VARIABLES:
            env[name] = environ[name]
    env.update(getattr(profile, "env", {}) or {})
    env.update(config.agent.env)
    for name in TOKEN_VARIABLES:
        env.pop(name, None)
    if config.agent.pass_github_token:
        token = token or next((environ[n] for n in TOKEN_VARIABLES if environ.get(n)), "")
        if not token:
            raise LaunchError(
                "agent.pass_github_token is true but neither GITHUB_TOKEN nor GH_TOKEN is "
                "set in the controller's environment"
            )
        env["GITHUB_TOKEN"] = env["GH_TOKEN"] = token
        env.setdefault("GITHUB_API_URL", config.github.api_url)

    setup = getattr(profile, "setup", None)
    if setup:
        preparer = PREPARERS.get(setup)
        if preparer is None:
            raise LaunchError(
                f"profile {profile.name!r} names setup {setup!r}, which does not exist; "
                f"known: {', '.join(sorted(PREPARERS))}"
            )
        preparer(number=number, worktree=Path(worktree), env=env)
    return command, env


__all__ = [
    "agent_launch",
    "agent_home",
    "prepare_claude_code",
    "write_atomically",
    "LaunchError",
    "PREPARERS",
]
