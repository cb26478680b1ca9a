"""The reliability suite's rig: a forge, a configuration and a real `controller run`.

Each test gets a sandbox forge seeded with the sample project, issues filed on it, a
configuration that runs the scripted agent on the test's own tmux socket, and helpers
to start, kill and restart the controller as a separate process (the behaviour under
test is the process's: a SIGKILL, a restart, a lock). `Rig.check` verifies the
invariants every fault must leave intact (one branch, worktree, session and pull request
per issue; every state file whole and equal to its last audit commit) and adds what it
found to the suite's figures, which are written to `figures.json` at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from controller.record import Record, RecordError
from controller.sandbox import issues as sample_issues
from controller.sandbox.demo import read_states
from tests.forge_fixture import forge_factory  # noqa: F401
from tests.helpers import git, wait_for
from tests.reliability.figures import FIGURES

AUTHOR = "demo"
REPOSITORY = "demo/textkit"
# Issues 1 and 3 of the sample set close without a planned stall: the fast ones.
FAST = (0, 2)
SOAK = os.environ.get("RELIABILITY_SOAK", "") not in ("", "0")


def pytest_sessionfinish(session, exitstatus):
    if FIGURES.touched:
        FIGURES.write()


def pytest_terminal_summary(terminalreporter):
    if FIGURES.touched:
        terminalreporter.write_sep("-", "reliability figures")
        terminalreporter.write_line(json.dumps(FIGURES.as_dict(), sort_keys=False))


class Rig:
    """One controller's world; `start` runs it, `check` verifies what it left."""

    def __init__(self, root: Path, forge, socket: str):
        self.root = root
        self.forge = forge
        self.socket = socket
        self.token = forge.token(AUTHOR)
        self.config_path = root / "controller.yaml"
        self.state_dir = root / "state"
        self.log_path = root / "controller.log"
        self.procs: list[subprocess.Popen] = []
        self.filed: list[int] = []
        self.agent_env: dict[str, str] = {"SCRIPTED_AGENT_THINK_S": "0.3"}
        self.overrides: dict[str, dict] = {}

    # -- setting up -------------------------------------------------------------------

    def file(self, title: str, body: str = "", author: str = AUTHOR) -> int:
        number = self.forge.create_issue(author, title, body)["number"]
        if author == AUTHOR:
            self.filed.append(number)
        return number

    def file_samples(self, indexes=FAST) -> list[int]:
        return [
            self.file(sample_issues.ISSUES[i].title, sample_issues.ISSUES[i].body) for i in indexes
        ]

    def config(self) -> dict:
        data = {
            "github": {
                "api_url": self.forge.url,
                "repo": REPOSITORY,
                "authors": [AUTHOR],
                "poll_interval_s": 0.5,
                "timeout_s": 5,
            },
            "repo": {"path": str(self.root / "repo"), "worktree_dir": str(self.root / "worktrees")},
            "tmux": {"socket": self.socket, "poll_interval_s": 0.3},
            "agent": {
                "profile": "scripted",
                "command": shlex.join([sys.executable, "-m", "controller.sandbox.agent"]),
                "env": {
                    "GITHUB_API_URL": self.forge.url,
                    "GITHUB_REPOSITORY": REPOSITORY,
                    **self.agent_env,
                },
                "pass_github_token": True,
            },
            "policy": {
                "max_workers": 3,
                "stall_after_s": 3,
                "settle_s": 0.3,
                "retry_backoff_s": 1,
                "retry_backoff_max_s": 5,
            },
            "state_dir": str(self.state_dir),
        }
        for section, values in self.overrides.items():
            if isinstance(data.get(section), dict):
                data[section].update(values)
            else:
                data[section] = values
        return data

    def write_config(self) -> Path:
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return self.config_path

    # -- the controller process -------------------------------------------------------

    def env(self, crash_at: str = "", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "TMUX")}
        env.update(GITHUB_TOKEN=self.token, PYTHONUNBUFFERED="1", **extra)
        if crash_at:
            env["CONTROLLER_CRASH_AT"] = crash_at
        else:
            env.pop("CONTROLLER_CRASH_AT", None)
        return env

    def start(
        self, *args: str, crash_at: str = "", write_config: bool = True, **extra: str
    ) -> subprocess.Popen:
        if write_config:
            self.write_config()
        with open(self.log_path, "ab") as log_file:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "controller",
                    "--config",
                    str(self.config_path),
                    *(args or ("run",)),
                ],
                cwd=self.root,
                env=self.env(crash_at, **extra),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def stop(self, proc: subprocess.Popen, timeout: float = 30) -> int:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(proc)
        if proc.wait() != 0:
            print(self.log()[-4000:])
        return proc.returncode

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- reading the world ------------------------------------------------------------

    def states(self) -> dict[int, dict]:
        return read_states(self.state_dir)

    def state_of(self, number: int) -> str | None:
        return self.states().get(number, {}).get("state")

    def all_closed(self, numbers=None) -> bool:
        states = self.states()
        return all(states.get(n, {}).get("state") == "closed" for n in numbers or self.filed)

    def wait_closed(self, numbers=None, timeout: float = 120, proc=None) -> None:
        def done():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(
                    f"the controller exited ({proc.returncode}):\n" + self.log()[-3000:]
                )
            return self.all_closed(numbers)

        try:
            wait_for(done, timeout=timeout, interval=0.2, message="every issue closed")
        except AssertionError:
            print(self.log()[-4000:])
            print(self.states())
            raise

    def branches(self) -> list[str]:
        out = git(self.forge.git_dir, "for-each-ref", "--format=%(refname:short)", "refs/heads/")
        return out.splitlines()

    def pulls(self) -> list[dict]:
        request = urllib.request.Request(
            f"{self.forge.url}/repos/{REPOSITORY}/pulls?state=all&per_page=100",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def worktree_branches(self) -> list[str]:
        repo = self.root / "repo"
        if not repo.exists():
            return []
        out = git(repo, "worktree", "list", "--porcelain")
        return [
            line.split(" ", 1)[1].removeprefix("refs/heads/")
            for line in out.splitlines()
            if line.startswith("branch ")
        ]

    def sessions(self) -> list[str]:
        result = subprocess.run(
            ["tmux", "-L", self.socket, "list-sessions", "-F", "#{session_name}"],
            capture_output=True,
            text=True,
        )
        return result.stdout.split() if result.returncode == 0 else []

    # -- the invariants ---------------------------------------------------------------

    def check(self, numbers=None, *, closed: bool = True) -> dict:
        """Count duplicates and lost or torn state; add them (and closures) to the figures."""
        numbers = list(numbers or self.filed)
        duplicates: list[str] = []
        lost: list[str] = []
        branches = self.branches()
        pulls = self.pulls()
        worktrees = self.worktree_branches()
        for n in numbers:
            prefix = f"fix/issue-{n}-"
            mine = [b for b in branches if b.startswith(prefix)]
            if len(mine) > 1:
                duplicates.append(f"#{n} branches {mine}")
            prs = [p["number"] for p in pulls if p["head"]["ref"].startswith(prefix)]
            if len(prs) > 1:
                duplicates.append(f"#{n} pull requests {prs}")
            trees = [b for b in worktrees if b.startswith(prefix)]
            if len(trees) > 1:
                duplicates.append(f"#{n} worktrees {trees}")
            lost.extend(self._check_state_file(n))
        sessions = self.sessions()
        duplicates.extend(f"{s} listed twice" for s in set(sessions) if sessions.count(s) > 1)
        lost.extend(self._check_audit())
        closed_count = sum(1 for n in numbers if self.state_of(n) == "closed")
        FIGURES.add(duplicates=len(duplicates), lost_or_torn=len(lost), closed=closed_count)
        assert not duplicates, duplicates
        assert not lost, lost
        if closed:
            assert closed_count == len(numbers), self.states()
            left = [s for s in sessions if s.startswith("worker-")]
            assert not left, f"sessions left after every issue closed: {left}"
        return {"closed": closed_count}

    def _check_state_file(self, n: int) -> list[str]:
        path = self.state_dir / f"issue-{n}.yaml"
        if not path.exists():
            return [f"#{n}: no state file"]
        text = path.read_text(encoding="utf-8")
        try:
            record = Record.from_yaml(text, str(path))
        except RecordError as error:
            return [f"#{n}: torn state file: {error}"]
        problems = []
        if record.issue != n:
            problems.append(f"#{n}: the file names issue {record.issue}")
        committed = subprocess.run(
            ["git", "show", f"HEAD:issue-{n}.yaml"],
            cwd=self.state_dir,
            capture_output=True,
            text=True,
        ).stdout
        if committed != text:
            problems.append(f"#{n}: the file differs from its last audit commit")
        return problems

    def _check_audit(self) -> list[str]:
        out = git(self.state_dir, "log", "--format=%x1e%s", "--name-only")
        problems = []
        for chunk in out.split("\x1e")[1:]:
            lines = [line for line in chunk.splitlines() if line.strip()]
            subject, files = lines[0], lines[1:]
            if len(files) != 1:
                problems.append(f"audit commit {subject!r} touches {files}")
        return problems


@pytest.fixture
def rig(tmp_path, forge_factory, tmux_socket):  # noqa: F811 (a fixture)
    forge = forge_factory(
        tmp_path / "forge",
        repo=REPOSITORY,
        ci_command=f"{shlex.quote(sys.executable)} -m unittest -q",
    )
    root = tmp_path / "world"
    root.mkdir()
    sample_issues.seed_origin(forge.clone_url)
    rig = Rig(root, forge, tmux_socket)
    yield rig
    rig.cleanup()


__all__ = ["Rig", "AUTHOR", "REPOSITORY", "FAST", "SOAK"]
