"""Fixtures every part of the suite shares: a private tmux server, a git origin.

Tests never touch the user's own tmux server or git configuration: each tmux test
gets its own socket, and git runs with a throwaway global configuration.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.helpers import git


@pytest.fixture(autouse=True)
def _isolated_git_identity(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("gitconfig")
    config = home / "gitconfig"
    config.write_text(
        "[user]\n\tname = Test\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tmux_socket():
    """A private tmux socket name; the server on it is killed after the test."""
    name = f"ctl-test-{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


@pytest.fixture
def origin(tmp_path) -> Path:
    """A bare origin repository with one commit on `main`."""
    bare = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    git(tmp_path, "init", "--bare", "-b", "main", str(bare))
    git(tmp_path, "init", "-b", "main", str(seed))
    (seed / "README.md").write_text("sample\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-m", "initial")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "origin", "main")
    return bare


@pytest.fixture
def clone(tmp_path, origin) -> Path:
    """A local clone of `origin`, as the controller keeps one."""
    path = tmp_path / "repo"
    git(tmp_path, "clone", "-q", str(origin), str(path))
    return path


def pytest_report_header(config):
    # subprocess.run waits for tmux and closes its pipe: an os.popen left unclosed warns
    # (ResourceWarning, an error here) in whichever test the garbage collector meets it.
    try:
        found = subprocess.run(["tmux", "-V"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"tmux: not available ({error})"
    return f"tmux: {found.stdout.strip() or found.stderr.strip()}"
