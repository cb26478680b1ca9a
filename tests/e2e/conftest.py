"""A whole controller installation in a temporary folder, run as a real process.

The `sandbox` fixture starts the forge with CI, seeds it with the sample project,
writes a hand-written configuration that uses the scripted agent on the test's own
tmux socket, and offers small helpers to file issues, run `controller` commands and
read the state files and their audit trail. Everything is stopped afterwards.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from controller.sandbox import issues as sample_issues
from controller.sandbox.forge import Forge
from tests.helpers import git, wait_for

AUTHOR = "alice"
REPOSITORY = "alice/textkit"


@dataclass
class Sandbox:
    root: Path
    forge: Forge
    socket: str
    config_path: Path
    state_dir: Path
    repo_path: Path
    processes: list[subprocess.Popen]

    def file(self, key: str, *, author: str = AUTHOR) -> int:
        sample = next(issue for issue in sample_issues.ISSUES if issue.key == key)
        created = self.forge.create_issue(author, sample.title, sample.body, labels=sample.labels)
        return created["number"]

    def configure(self, **sections: dict) -> None:
        data = yaml.safe_load(self.config_path.read_text())
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))

    def env(self) -> dict[str, str]:
        env = {**os.environ, "GITHUB_TOKEN": self.forge.token(AUTHOR), "PYTHONUNBUFFERED": "1"}
        env.pop("GH_TOKEN", None)
        return env

    def controller(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "controller", "--config", str(self.config_path), *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(
        self, *args: str, log_name: str = "controller.log", env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = open(self.root / log_name, "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "controller", "--config", str(self.config_path), "run", *args],
            cwd=self.root,
            env={**self.env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def log(self, name: str = "controller.log") -> str:
        path = self.root / name
        return path.read_text(errors="replace") if path.exists() else ""

    def state(self, number: int) -> dict:
        path = self.state_dir / f"issue-{number}.yaml"
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            return {}
        return data if isinstance(data, dict) else {}

    def wait_state(self, number: int, *states: str, timeout: float = 90) -> dict:
        def reached():
            data = self.state(number)
            return data if data.get("state") in states else None

        try:
            data = wait_for(
                reached,
                timeout=timeout,
                interval=0.2,
                message=f"#{number} to reach {' or '.join(states)}",
            )
            # The audit commit follows the file's write by a moment.
            wait_for(
                lambda: self.path_taken(number)[-1:] == [data["state"]],
                timeout=10,
                message=f"the audit commit of #{number} -> {data['state']}",
            )
            return data
        except AssertionError:
            print(self.log()[-6000:])
            raise

    def audit(self, number: int) -> list[str]:
        return git(
            self.state_dir, "log", "--reverse", "--format=%s", "--", f"issue-{number}.yaml"
        ).splitlines()

    def path_taken(self, number: int) -> list[str]:
        """The states an issue went through, from its audit trail."""
        states = []
        for subject in self.audit(number):
            head = subject.split(": ", 1)[0]
            if " -> " in head:
                states.append(head.split(" -> ", 1)[1].split()[0])
        return states

    def sessions(self) -> list[str]:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "list-sessions", "-F", "#{session_name}"],
            capture_output=True,
            text=True,
        )
        return result.stdout.split() if result.returncode == 0 else []

    def pane_pid(self, name: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "display-message", "-p", "-t", f"={name}:", "#{pane_pid}"],
            capture_output=True,
            text=True,
        ).stdout.strip()

    def worktrees(self) -> list[str]:
        output = git(self.repo_path, "worktree", "list", "--porcelain")
        return [
            line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("worktree ")
        ]

    def pulls_for(self, number: int) -> list[dict]:
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.forge.url}/repos/{REPOSITORY}/pulls?state=all&per_page=100",
            headers={"Authorization": f"token {self.forge.token(AUTHOR)}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            pulls = json.load(response)
        return [p for p in pulls if f"#{number}" in (p.get("body") or "")]

    def origin_branches(self) -> list[str]:
        output = git(self.root, "ls-remote", "--heads", str(self.forge.clone_url))
        return [line.split("refs/heads/", 1)[1] for line in output.splitlines()]


@pytest.fixture
def sandbox(tmp_path, tmux_socket):
    root = tmp_path / "install"
    root.mkdir()
    forge = Forge(
        root / "forge", repo=REPOSITORY, ci_command=f"{shlex.quote(sys.executable)} -m unittest -q"
    ).start()
    sample_issues.seed_origin(forge.clone_url)

    config = {
        "github": {
            "api_url": forge.url,
            "repo": REPOSITORY,
            "authors": [AUTHOR],
            "poll_interval_s": 0.5,
        },
        "repo": {"path": "./repo", "worktree_dir": "./worktrees"},
        "tmux": {"socket": tmux_socket, "poll_interval_s": 0.3},
        "agent": {
            "profile": "scripted",
            "command": shlex.join([sys.executable, "-m", "controller.sandbox.agent"]),
            "env": {
                "GITHUB_API_URL": forge.url,
                "GITHUB_REPOSITORY": REPOSITORY,
                "SCRIPTED_AGENT_THINK_S": "1.5",
            },
            "pass_github_token": True,
        },
        "policy": {
            "max_workers": 3,
            "stall_after_s": 2,
            "settle_s": 0.3,
            "retry_backoff_s": 1,
            "retry_backoff_max_s": 5,
        },
        "state_dir": "./state",
    }
    config_path = root / "controller.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    box = Sandbox(root, forge, tmux_socket, config_path, root / "state", root / "repo", [])
    yield box
    for process in box.processes:
        box.stop(process)
    forge.stop()
