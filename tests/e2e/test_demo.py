"""`controller demo`, the README's first command, run as a new user would run it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from controller import machine
from controller.sandbox import demo
from tests.helpers import git, wait_for

pytestmark = pytest.mark.e2e

CLAUDE = Path(demo.PROJECT_ROOT) / ".tools" / "node_modules" / ".bin" / "claude"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}


def run_demo(directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "controller", "demo", "--dir", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
    )


def check_finished(directory: Path, result: subprocess.CompletedProcess, count: int) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    every = "the issue" if count == 1 else f"all {count} issues"
    assert f"demo: {every} closed in " in result.stdout
    state_dir = directory / "state"
    for number in range(1, count + 1):
        data = yaml.safe_load((state_dir / f"issue-{number}.yaml").read_text())
        assert data["state"] == "closed" and data["pr"]
        summary = next(x for x in result.stdout.splitlines() if x.startswith(f"  #{number}: "))
        assert summary.startswith(f"  #{number}: new -> discovered -> worktree -> ")
        assert summary.endswith(" -> closed"), summary
        # Nothing claims an agent that is gone.
        assert not ({"session", "pane", "pane_since", "worktree"} & set(data)), data
        subjects = git(
            state_dir, "log", "--reverse", "--format=%s", "--", f"issue-{number}.yaml"
        ).splitlines()
        path = [s.split(": ", 1)[0].split(" -> ", 1)[1] for s in subjects]
        assert path[0] == "discovered" and path[-1] == "closed"
        assert all(machine.allowed(a, b) for a, b in zip(path, path[1:], strict=False))
        for commit in git(
            state_dir, "log", "--format=%H", "--", f"issue-{number}.yaml"
        ).splitlines():
            touched = git(state_dir, "show", "--name-only", "--format=", commit).splitlines()
            assert touched == [f"issue-{number}.yaml"]
    sessions = subprocess.run(
        ["tmux", "-L", demo.SOCKET, "list-sessions"], capture_output=True, text=True
    )
    assert sessions.returncode != 0 or not sessions.stdout.strip()
    worktrees = git(directory / "repo", "worktree", "list", "--porcelain")
    assert worktrees.count("worktree ") == 1
    # Each agent's own folder (config, transcripts) went with its worktree.
    assert not list(directory.glob("**/.agents"))
    log = (directory / "controller.log").read_text()
    assert "sandbox-demo" not in log


def test_the_demo_closes_three_issues_with_the_scripted_agent(tmp_path):
    # Run from inside a person's checkout, whose history the demo must leave alone.
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "notes.txt").write_text("mine\n")
    git(tmp_path, "add", "notes.txt")
    git(tmp_path, "commit", "-q", "-m", "mine")
    directory = tmp_path / "demo"
    # --keep keeps the agents' tmux server, and there is none once every issue closed.
    result = run_demo(directory, "--keep")
    check_finished(directory, result, 3)
    assert "demo: --keep: no agent is left to keep" in result.stdout
    assert git(tmp_path, "log", "--format=%s").splitlines() == ["mine"]
    state_repo = git(directory / "state", "rev-parse", "--show-toplevel")
    assert state_repo == str((directory / "state").resolve())
    # The status command it names works on the folder after the demo has gone.
    hint = f"demo: `controller --config {directory / 'controller.yaml'} status` "
    assert hint in result.stdout
    status = subprocess.run(
        [sys.executable, "-m", "controller", "--config", str(directory / "controller.yaml")]
        + ["status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert [line.split()[:2] for line in status.stdout.splitlines()[1:]] == [
        ["#1", "closed"],
        ["#2", "closed"],
        ["#3", "closed"],
    ]


@pytest.mark.claude
def test_the_demo_closes_an_issue_with_the_real_claude_code_cli(tmp_path):
    assert CLAUDE.exists(), (
        "the pinned Claude Code CLI is missing: run scripts/bootstrap "
        "--with-claude (make test does)"
    )
    directory = tmp_path / "demo"
    result = run_demo(directory, "--agent", "claude", "--issues", "1")
    check_finished(directory, result, 1)


def test_the_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("mine\n")
    result = run_demo(tmp_path)
    assert result.returncode == 2 and "not empty" in result.stderr
    assert (tmp_path / "something").read_text() == "mine\n"


def test_the_demo_refuses_a_file_for_its_folder(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    result = run_demo(target)
    assert result.returncode == 2, result.stderr
    assert f"{target} is a file, not a folder" in result.stderr
    assert "Traceback" not in result.stderr and target.read_text() == "mine\n"
    inside = run_demo(target / "sub")
    assert inside.returncode == 2 and "cannot make the folder" in inside.stderr
    assert inside.stderr.startswith("controller: error: ") and inside.stderr.count("\n") == 1
    assert "Traceback" not in inside.stderr


@contextlib.contextmanager
def unwritable_folder(folder: Path):
    """An empty folder this user cannot write in: by its mode, or for root (whom no mode
    stops) as a read-only file system mounted there."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"root, and cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_the_demo_refuses_a_folder_it_cannot_write_and_leaves_nothing(tmp_path):
    with unwritable_folder(tmp_path / "locked") as folder:
        result = run_demo(folder, timeout=60)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith(f"controller: error: {folder}"), result.stderr
        assert result.stderr.count("\n") == 1 and "give --dir" in result.stderr
        assert list(folder.iterdir()) == []
    assert not demo_server_running()
    assert result.stdout == ""


class Demo:
    """A demo started in the background, as a person starts one in a terminal."""

    def __init__(
        self, directory: Path | None, out: Path, *args: str, env: dict[str, str] | None = None
    ):
        self.out, self.err = out.with_suffix(".out"), out.with_suffix(".err")
        command = [sys.executable, "-m", "controller", "demo", *args]
        if directory is not None:
            command[4:4] = ["--dir", str(directory)]
        with open(self.out, "wb") as stdout, open(self.err, "wb") as stderr:
            # Its own process group, so a signal to the group is a Ctrl-C at its terminal.
            self.process = subprocess.Popen(
                command,
                stdout=stdout,
                stderr=stderr,
                env={**clean_env(), **(env or {})},
                start_new_session=True,
            )

    def signal(self, *signums: int) -> None:
        """Send each to the demo's process group, as a terminal does for Ctrl-C."""
        for number, signum in enumerate(signums):
            if number:
                time.sleep(0.05)  # the spacing of two quick presses, not a wait
            os.killpg(self.process.pid, signum)

    def wait(self, timeout: float) -> subprocess.CompletedProcess:
        self.process.wait(timeout=timeout)
        return subprocess.CompletedProcess(
            self.process.args, self.process.returncode, self.out.read_text(), self.err.read_text()
        )


def processes_in(folder: Path) -> list[str]:
    """Processes whose working folder or command line lies in `folder`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(folder) in args or cwd == str(folder) or cwd.startswith(f"{folder}/"):
            found.append(f"{entry.name}: {args.strip()}")
    return found


def demo_server_running() -> bool:
    result = subprocess.run(["tmux", "-L", demo.SOCKET, "list-sessions"], capture_output=True)
    return result.returncode == 0


def assert_nothing_left(folder: Path) -> None:
    assert not demo_server_running(), f"a tmux server is left on the socket {demo.SOCKET!r}"
    wait_for(
        lambda: not processes_in(folder),
        timeout=15,
        message=f"the demo's processes to end: {processes_in(folder)}",
    )


@pytest.fixture
def demos(tmp_path):
    """Starts demos; whatever a failed test leaves running is killed afterwards."""
    started: list[Demo] = []

    def start(directory: Path | None, *args: str, env: dict[str, str] | None = None) -> Demo:
        started.append(Demo(directory, tmp_path / f"demo-{len(started)}", *args, env=env))
        return started[-1]

    yield start
    killed = False
    for one in started:
        if one.process.poll() is None:
            os.killpg(one.process.pid, signal.SIGKILL)
            one.process.wait()
            killed = True
    for line in processes_in(tmp_path):
        killed = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    if killed:
        subprocess.run(["tmux", "-L", demo.SOCKET, "kill-server"], capture_output=True)


def test_a_second_demo_refuses_at_once_and_makes_no_folder(tmp_path, demos):
    first_dir = tmp_path / "cc1"
    first = demos(first_dir, "--issues", "1")
    # The first demo makes its folder once it owns the socket.
    wait_for(
        lambda: first_dir.exists() or first.process.poll() is not None,
        timeout=30,
        message="the first demo to start",
    )

    second_dir = tmp_path / "cc2"
    began = time.monotonic()
    second = run_demo(second_dir, "--issues", "2", timeout=60)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    third = subprocess.run(
        [sys.executable, "-m", "controller", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean_env(), "TMPDIR": str(scratch)},
    )

    for refused in (second, third):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "another demo is running" in refused.stderr
        assert f"pid {first.process.pid}" in refused.stderr
    assert time.monotonic() - began < 20
    assert not second_dir.exists() and not list(scratch.iterdir())
    check_finished(first_dir, first.wait(timeout=180), 1)


def test_an_issue_that_needs_a_person_stops_the_demo_at_once(tmp_path, demos):
    directory = tmp_path / "demo"
    running = demos(directory, "--issues", "1", "--timeout", "300")

    # An agent that dies each time it starts spends the issue's respawn budget.
    def session_or_exit() -> bool:
        if running.process.poll() is not None:
            return True
        return (
            subprocess.run(
                ["tmux", "-L", demo.SOCKET, "has-session", "-t", "=worker-1"], capture_output=True
            ).returncode
            == 0
        )

    for _ in range(10):
        wait_for(session_or_exit, timeout=60, message="an agent to start or the demo to stop")
        if running.process.poll() is not None:
            break
        subprocess.run(
            ["tmux", "-L", demo.SOCKET, "kill-session", "-t", "=worker-1"], capture_output=True
        )
    result = running.wait(timeout=30)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "stopped early: #1 is stuck (respawn budget spent" in result.stderr
    assert "needs a person" in result.stderr
    assert "respawn budget spent" in result.stdout  # the live table shows it
    assert_nothing_left(tmp_path)


@pytest.mark.parametrize(
    "signums",
    [
        (signal.SIGINT,),
        (signal.SIGINT, signal.SIGINT),
        (signal.SIGINT, signal.SIGTERM),
        (signal.SIGHUP,),
    ],
    ids=["ctrl-c", "double-ctrl-c", "ctrl-c-then-sigterm", "terminal-closed"],
)
def test_ctrl_c_while_agents_work_stops_everything(tmp_path, demos, signums):
    directory = tmp_path / "demo"
    running = demos(directory)
    wait_for(
        lambda: any(
            data.get("state") in ("spawned", "working")
            for data in demo.read_states(directory / "state").values()
        ),
        timeout=60,
        interval=0.1,
        message="an agent at work",
    )

    running.signal(*signums)
    result = running.wait(timeout=60)

    assert result.returncode == 128 + signums[0], result.stdout + result.stderr
    what = "interrupted" if signums[0] == signal.SIGINT else "terminated"
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"demo: {what}; stopped the agents and the sandbox"
    )
    assert "Traceback" not in result.stderr
    assert_nothing_left(tmp_path)


def test_double_ctrl_c_while_seeding_leaves_no_seed_folder(tmp_path, demos):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    running = demos(tmp_path / "demo", env={"TMPDIR": str(scratch)})
    wait_for(
        lambda: list(scratch.glob("sample-seed-*")),
        timeout=30,
        interval=0.002,
        message="the sample project's seeding",
    )

    running.signal(signal.SIGINT, signal.SIGINT)
    result = running.wait(timeout=60)

    assert result.returncode == 130, result.stdout + result.stderr
    assert "demo: interrupted; stopped the agents and the sandbox" in result.stderr
    assert not list(scratch.iterdir())
    assert_nothing_left(tmp_path)


def test_a_demo_killed_outright_takes_its_controller_with_it(tmp_path, demos):
    directory = tmp_path / "demo"
    running = demos(directory)
    wait_for(
        lambda: (
            (directory / "controller.log").exists()
            and any(
                data.get("state") in ("spawned", "working")
                for data in demo.read_states(directory / "state").values()
            )
        ),
        timeout=60,
        interval=0.1,
        message="an agent at work",
    )
    controller = [
        line
        for line in processes_in(directory)
        if " -m controller --config " in line and line.endswith(" run")
    ]
    assert controller, processes_in(directory)

    os.kill(running.process.pid, signal.SIGKILL)  # no cleanup can run
    running.process.wait(timeout=10)
    pid = int(controller[0].split(":", 1)[0])
    wait_for(
        lambda: (
            not Path(f"/proc/{pid}").exists()
            or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
        ),
        timeout=30,
        message="the orphaned controller to stop",
    )
    subprocess.run(["tmux", "-L", demo.SOCKET, "kill-server"], capture_output=True)


def test_the_demo_waits_for_the_audit_commit_of_a_closed_file(tmp_path):
    """The summary is read from the commits: a file closed but not yet committed waits."""
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    git(state_dir, "init", "-q")
    path = state_dir / "issue-1.yaml"
    path.write_text("issue: 1\nstate: ci-green\n")
    git(state_dir, "add", "issue-1.yaml")
    git(state_dir, "commit", "-q", "-m", "#1 pr-open -> ci-green: checks passed")
    assert demo._committed(state_dir, [1])

    path.write_text("issue: 1\nstate: closed\n")
    assert not demo._committed(state_dir, [1])
    (state_dir / "issue-2.yaml").write_text("issue: 2\nstate: closed\n")
    git(state_dir, "commit", "-q", "-am", "#1 ci-green -> closed: issue closed")
    assert demo._committed(state_dir, [1]) and not demo._committed(state_dir, [1, 2])
