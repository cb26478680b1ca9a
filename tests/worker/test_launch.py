"""The agent's command, environment and the claude-code preparer's files."""

from __future__ import annotations

import json
import os
import sys

import pytest

from controller import config as config_module
from controller.launch import LaunchError, agent_home, agent_launch
from controller.screens import Profile, load_profile
from controller.sessions import Sessions
from tests.helpers import wait_for

ENVIRON = {
    "PATH": os.environ["PATH"],
    "HOME": "/home/someone",
    "LANG": "en_US.UTF-8",
    "TERM": "screen",
    "GITHUB_TOKEN": "ghp_secret",
    "SECRET": "no",
    "WANTED": "yes",
    "ANTHROPIC_API_KEY": "sk-ant-api03-0123456789abcdefghijKLMNOPQRSTUVWXYZ",
}


def _config(**agent):
    return config_module.from_mapping({"agent": agent})


def test_environment_holds_only_what_is_named(tmp_path):
    profile = Profile(
        name="p", command=["agent", "--go"], env={"FROM_PROFILE": "1"}, pass_env=["WANTED"]
    )
    # The configuration refuses the token's name; the launcher must drop it all the same.
    config = config_module.replace(
        _config(env={"FROM_CONFIG": "2"}),
        agent={"pass_env": ["ANTHROPIC_API_KEY", "GITHUB_TOKEN"]},
    )

    command, env = agent_launch(profile, config, number=3, worktree=tmp_path / "w", environ=ENVIRON)

    assert command == ["agent", "--go"]
    assert env == {
        "PATH": ENVIRON["PATH"],
        "HOME": "/home/someone",
        "LANG": "en_US.UTF-8",
        "TERM": "xterm-256color",
        "WANTED": "yes",
        "FROM_PROFILE": "1",
        "FROM_CONFIG": "2",
        "ANTHROPIC_API_KEY": ENVIRON["ANTHROPIC_API_KEY"],
    }


def test_token_only_when_configured_and_command_override(tmp_path):
    profile = Profile(name="p", command=["agent"], resume_command=["agent", "--continue"])
    config = _config(pass_github_token=True, command="other --flag 'two words'")

    command, env = agent_launch(profile, config, number=3, worktree=tmp_path, environ=ENVIRON)

    assert command == ["other", "--flag", "two words"]
    assert env["GITHUB_TOKEN"] == env["GH_TOKEN"] == "ghp_secret"
    assert env["GITHUB_API_URL"] == "https://api.github.com"
    resumed, _ = agent_launch(
        profile, _config(), number=3, worktree=tmp_path, resume=True, environ=ENVIRON
    )
    assert resumed == ["agent", "--continue"]
    with pytest.raises(LaunchError, match="GITHUB_TOKEN"):
        agent_launch(profile, config, number=3, worktree=tmp_path, environ={"PATH": "/bin"})


def test_claude_code_preparer_writes_a_private_config(tmp_path):
    profile = Profile(
        name="claude-code", command=["claude"], setup="claude-code", pass_env=["ANTHROPIC_API_KEY"]
    )
    worktree = tmp_path / "worktrees" / "issue-8"

    _, env = agent_launch(profile, _config(), number=8, worktree=worktree, environ=ENVIRON)
    agent_launch(profile, _config(), number=8, worktree=worktree, environ=ENVIRON)

    folder = tmp_path / "worktrees" / ".agents" / "issue-8"
    assert agent_home(worktree, 8) == folder
    state = json.loads((folder / ".claude.json").read_text())
    assert state["hasCompletedOnboarding"] is True
    assert state["customApiKeyResponses"]["approved"] == ["ghijKLMNOPQRSTUVWXYZ"]
    assert state["projects"][str(worktree)]["hasTrustDialogAccepted"] is True
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["skipDangerousModePermissionPrompt"] is True
    assert env["CLAUDE_CONFIG_DIR"] == str(folder)
    assert env["CLAUDE_CODE_TMPDIR"] == str(folder / "tmp") and (folder / "tmp").is_dir()
    assert env["DISABLE_AUTOUPDATER"] == "1"
    assert env.get("IS_SANDBOX") == ("1" if os.geteuid() == 0 else None)
    assert "GITHUB_TOKEN" not in env
    assert [p.name for p in folder.iterdir() if p.name.startswith(".claude.json.")] == []


def test_unknown_setup_is_a_clear_error(tmp_path):
    profile = Profile(name="odd", command=["x"], setup="nope")
    with pytest.raises(LaunchError, match="nope"):
        agent_launch(profile, _config(), number=1, worktree=tmp_path, environ=ENVIRON)


def test_agent_in_tmux_sees_only_its_environment(tmux_socket, tmp_path, monkeypatch):
    monkeypatch.setenv("CONTROLLER_ONLY", "leak")
    out = tmp_path / "env.txt"
    program = f"import os,json; open({str(out)!r},'w').write(json.dumps(dict(os.environ)))"
    profile = Profile(name="env", command=[sys.executable, "-c", program + "; input()"])
    command, env = agent_launch(profile, _config(env={"X": "1"}), number=1, worktree=tmp_path)
    sessions = Sessions(tmux_socket)
    try:
        sessions.start("worker-1", tmp_path, command, env)
        seen = json.loads(wait_for(lambda: out.exists() and out.read_text(), message="env"))
    finally:
        sessions.kill_server()
    seen.pop("LC_CTYPE", None)  # Python may set it for a C locale
    assert seen == env


def test_a_token_read_elsewhere_reaches_the_agent_only_when_configured(tmp_path):
    profile = load_profile("generic")
    config = config_module.from_mapping({"agent": {"command": "sh"}})
    _, quiet = agent_launch(
        profile, config, number=3, worktree=tmp_path, environ={}, token="ghp_fromghcli"
    )
    assert "GITHUB_TOKEN" not in quiet and "GH_TOKEN" not in quiet
    passing = config_module.replace(config, agent={"pass_github_token": True})
    _, env = agent_launch(
        profile, passing, number=3, worktree=tmp_path, environ={}, token="ghp_fromghcli"
    )
    assert env["GITHUB_TOKEN"] == env["GH_TOKEN"] == "ghp_fromghcli"
