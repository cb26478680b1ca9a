"""`controller demo`: the whole job on one machine, with nothing configured.

It starts the sandbox forge (whose CI runs the sample project's tests), seeds its
repository with the sample project, files a few issues, writes a configuration file,
and runs `controller run` as a separate process against all of it, the way a person
would. It watches the state files (a public format) until every issue is closed,
printing a status table, then stops the controller and prints a summary.

Like the rest of the sandbox it talks to the controller only through files, HTTP,
git and tmux, never through its internals. Everything it makes stays under one
folder for inspection.

The agents' tmux socket has a fixed name, so one demo runs at a time: a lock file
named after the socket, held for the demo's whole life and released by the kernel
however it ends, says which demo owns it. The demo must never leave the controller,
the agents or their tmux server running behind it (nor when its terminal is closed:
SIGHUP stops it as SIGTERM does): once stopping has begun, a further Ctrl-C or SIGTERM
is noted, not obeyed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from controller.sandbox import issues as sample_issues

SOCKET = "controller-demo"
AUTHOR = "demo"
REPOSITORY = "demo/textkit"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_WITH_PARENT = Path(__file__).resolve().with_name("with_parent.py")


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP arrived; like KeyboardInterrupt, no `except Exception`
    takes it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Interrupts:
    """Turns the first SIGINT, SIGTERM or SIGHUP into one `Interrupted`; drops the rest.

    Until `arm()`, while `deferred()` and after `hold()`, the first signal is only
    noted, so a process is never started without the demo knowing it must stop it, and
    the stopping itself cannot be cut short.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self.raised = False
        self.holding = True
        self.previous: dict[int, object] = {}

    def __enter__(self) -> Interrupts:
        # Handlers can only be set from the main thread; elsewhere signals stay as they were.
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._arrived)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _arrived(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
        self._raise_once()

    def _raise_once(self) -> None:
        if self.received is not None and not self.holding and not self.raised:
            self.raised = True
            raise Interrupted(self.received)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        self._raise_once()

    def arm(self) -> None:
        self.holding = False
        self._raise_once()

    def hold(self) -> None:
        self.holding = True


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )
    return result.stdout.strip()


def _claude_binary() -> str:
    local = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "claude"
    if local.exists():
        return str(local)
    found = shutil.which("claude")
    if found:
        return found
    raise SystemExit(
        "demo: the Claude Code CLI is not installed; run "
        "`scripts/bootstrap --with-claude` (installs it under .tools/)"
    )


def _tmux_busy(socket: str) -> bool:
    result = subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True, text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


def lock_path() -> Path:
    # Beside tmux's own folder of sockets, so the lock covers exactly the socket's users.
    folder = os.environ.get("TMUX_TMPDIR") or "/tmp"
    return Path(folder) / f"{SOCKET}-{os.getuid()}.lock"


def _take_lock(path: Path) -> int | None:
    """The descriptor holding the demo's lock, or None (and a message) if another holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        print(
            f"demo: cannot open the lock file {path}: {error.strerror}; remove it if it is "
            "not yours, or set TMUX_TMPDIR to a folder of your own",
            file=sys.stderr,
        )
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        os.close(fd)
        print(
            f"demo: another demo is running ({holder}) on tmux socket {SOCKET!r}; wait for "
            "it to finish or stop it with Ctrl-C in its terminal",
            file=sys.stderr,
        )
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _lock_holder(fd: int) -> str:
    # The holder writes its pid just after locking; give it a moment to do so.
    deadline = time.monotonic() + 1.0
    while True:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if pid or time.monotonic() > deadline:
            return f"pid {pid}" if pid else "pid not yet written"
        time.sleep(0.02)


_OTHER_FOLDER = "give --dir an empty or new folder this user may write"


def _folder_refused(why: str, todo: str = _OTHER_FOLDER) -> None:
    """One line saying why the demo's folder will not do and what to do, in the words of
    any command's own errors."""
    print(f"controller: error: {why}; {todo}", file=sys.stderr)


def _make_folder(directory: str | None) -> Path | None:
    root = Path(directory or tempfile.mkdtemp(prefix="controller-demo-")).resolve()
    if root.exists() and not root.is_dir():
        _folder_refused(f"{root} is a file, not a folder")
        return None
    made = not root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _folder_refused(f"cannot make the folder {root}: {error.strerror}")
        return None
    try:
        empty = not any(root.iterdir())
    except OSError as error:
        _folder_refused(f"cannot read the folder {root}: {error.strerror}")
        return None
    if not empty:
        _folder_refused(f"{root} is not empty")
        return None
    # Tried rather than read from its mode: a read-only disk refuses even root, whom no
    # mode stops.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=root))
    except OSError as error:
        if made:
            with contextlib.suppress(OSError):
                root.rmdir()
        if error.errno == errno.EROFS:
            _folder_refused(
                f"{root} is on a read-only file system",
                f"mount it read-write, or {_OTHER_FOLDER}",
            )
        else:
            _folder_refused(f"cannot write in the folder {root}: {error.strerror}")
        return None
    return root


def _config(root: Path, forge_url: str, agent: str, model_url: str | None) -> dict:
    agent_section: dict = {
        "env": {"GITHUB_API_URL": forge_url, "GITHUB_REPOSITORY": REPOSITORY},
        "pass_github_token": True,
    }
    if agent == "claude":
        agent_section.update(
            profile="claude-code",
            command=shlex.join([_claude_binary(), "--dangerously-skip-permissions"]),
        )
        agent_section["env"].update(
            ANTHROPIC_BASE_URL=model_url or "",
            ANTHROPIC_API_KEY="sk-ant-api03-sandbox-demo-key-0000000000",
        )
    else:
        agent_section["env"]["SCRIPTED_AGENT_THINK_S"] = "2.5"
        agent_section.update(
            profile="scripted",
            command=shlex.join([sys.executable, "-m", "controller.sandbox.agent"]),
        )
    return {
        "github": {
            "api_url": forge_url,
            "repo": REPOSITORY,
            "authors": [AUTHOR],
            "poll_interval_s": 1,
        },
        "repo": {"path": str(root / "repo"), "worktree_dir": str(root / "worktrees")},
        "tmux": {"socket": SOCKET, "poll_interval_s": 0.5},
        "agent": agent_section,
        "policy": {
            "max_workers": 3,
            "stall_after_s": 3,
            "settle_s": 0.4,
            "retry_backoff_s": 2,
            "retry_backoff_max_s": 20,
        },
        "state_dir": str(root / "state"),
    }


def read_states(state_dir: Path) -> dict[int, dict]:
    """Every readable state file, as plain data (a torn or invalid one is skipped)."""
    found = {}
    for path in sorted(state_dir.glob("issue-*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("issue"), int):
            found[data["issue"]] = data
    return found


def _table(states: dict[int, dict]) -> str:
    lines = [f"  {'issue':<6} {'state':<10} {'pr':<5} {'ci':<8} {'nudges':<6} title"]
    for number, data in sorted(states.items()):
        pr = f"#{data['pr']}" if data.get("pr") else "-"
        lines.append(
            f"  #{number:<5} {data.get('state', '?'):<10} {pr:<5} "
            f"{data.get('ci') or '-':<8} {data.get('nudges', 0):<6} "
            f"{(data.get('title') or '')[:60]}"
        )
        if data.get("error"):
            lines.append(f"  {'':<6} error: {data['error']}")
    return "\n".join(lines)


def _committed(state_dir: Path, numbers: list[int]) -> bool:
    """Whether these issues' state files are as their last audit commit has them.

    The controller writes a state file, then commits it: a file already closed may
    still wait for its commit, and the summary is read from the commits.
    """
    names = [f"issue-{n}.yaml" for n in numbers]
    return not _git(state_dir, "status", "--porcelain", "--untracked-files=all", "--", *names)


def _needing_a_person(states: dict[int, dict], filed: list[int]) -> tuple[int, str] | None:
    for number in filed:
        data = states.get(number, {})
        error = str(data.get("error") or "")
        # Read as `controller status` reads it: an error with a retry time is retried by
        # the controller itself; one without is where it stopped until someone acts, so
        # the demo cannot finish on its own.
        if error and not data.get("retry_at") and data.get("state") != "closed":
            return number, error
    return None


class Sandbox:
    """What one demo started: the forge, the stand-in model, the controller, the agents."""

    def __init__(self, root: Path, keep: bool):
        from controller.sandbox.forge import Forge

        self.root = root
        self.keep = keep
        self.forge = Forge(
            root / "forge",
            repo=REPOSITORY,
            ci_command=f"{shlex.quote(sys.executable)} -m unittest -q",
        )
        self.model = None
        self.controller: subprocess.Popen | None = None

    def stop(self) -> None:
        """Stop everything; safe to repeat. The caller holds signals off meanwhile."""
        controller = self.controller
        if controller is not None and controller.poll() is None:
            controller.send_signal(signal.SIGTERM)
            try:
                controller.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(controller.pid, signal.SIGKILL)
                controller.wait()
        if not self.keep:
            # Its own session: a Ctrl-C at the terminal must not kill it half way.
            subprocess.run(
                ["tmux", "-L", SOCKET, "kill-server"], capture_output=True, start_new_session=True
            )
        if self.model is not None:
            self.model.stop()
            self.model = None
        self.forge.stop()


def _path_taken(subjects: list[str]) -> str:
    """'new -> discovered -> ... -> closed' from audit commit subjects, oldest first.

    A subject is `#N FROM -> TO: reason` for a transition (`(forced)` after the states
    when forced) and `#N STATE: note` otherwise; only the transitions make the path.
    """
    path: list[str] = []
    for subject in subjects:
        states = subject.split(": ", 1)[0].split(" ", 1)[-1].removesuffix(" (forced)")
        if " -> " not in states:
            continue
        source, dest = states.split(" -> ", 1)
        if not path:
            path.append(source)
        path.append(dest + (" (forced)" if subject.split(": ", 1)[0].endswith("(forced)") else ""))
    return " -> ".join(path)


def main(
    issues: int = 3,
    agent: str = "scripted",
    directory: str | None = None,
    timeout: float = 600.0,
    keep: bool = False,
) -> int:
    if not 1 <= issues <= len(sample_issues.ISSUES):
        print(f"demo: --issues must be between 1 and {len(sample_issues.ISSUES)}", file=sys.stderr)
        return 2
    lock = _take_lock(lock_path())
    if lock is None:
        return 2
    try:
        if _tmux_busy(SOCKET):
            print(
                f"demo: a tmux server left by an earlier demo is running on socket "
                f"{SOCKET!r}; stop it with `tmux -L {SOCKET} kill-server`",
                file=sys.stderr,
            )
            return 2
        root = _make_folder(directory)
        if root is None:
            return 2
        print(f"demo: everything goes under {root}")
        return _run(root, issues, agent, timeout, keep)
    finally:
        os.close(lock)


def _run(root: Path, issues: int, agent: str, timeout: float, keep: bool) -> int:
    # The forge runs in this process; its request log belongs in a file, not the table.
    logging.getLogger("controller.sandbox").setLevel(logging.WARNING)
    sandbox = Sandbox(root, keep)
    status = 1
    with Interrupts() as interrupts:
        try:
            try:
                interrupts.arm()
                status = _demonstrate(sandbox, interrupts, issues, agent, timeout)
            except Exception:
                # A child killed by the same Ctrl-C fails in its own way; the Ctrl-C is
                # the news.
                if interrupts.received is None:
                    raise
            finally:
                try:
                    interrupts.hold()
                except Interrupted:
                    interrupts.hold()  # it came just before; it is the only one raised
                sandbox.stop()
        except Interrupted:
            pass
        if interrupts.received is None:
            return status
        what = "interrupted" if interrupts.received == signal.SIGINT else "terminated"
        if keep:
            print(
                f"demo: {what}; stopped the controller and the sandbox; the agents' tmux "
                f"server is left running (--keep): `tmux -L {SOCKET} kill-server` stops it",
                file=sys.stderr,
            )
        else:
            print(f"demo: {what}; stopped the agents and the sandbox", file=sys.stderr)
        return 128 + interrupts.received


def _demonstrate(
    sandbox: Sandbox, interrupts: Interrupts, issues: int, agent: str, timeout: float
) -> int:
    root, forge = sandbox.root, sandbox.forge
    started = time.monotonic()
    with interrupts.deferred():
        forge.start()
    # Short, and its temporary clone must not be left behind half deleted.
    with interrupts.deferred():
        sample_issues.seed_origin(forge.clone_url)
    filed = []
    for sample in sample_issues.ISSUES[:issues]:
        created = forge.create_issue(AUTHOR, sample.title, sample.body, labels=sample.labels)
        filed.append(created["number"] if isinstance(created, dict) else created)
    print(
        f"demo: forge at {forge.url}, {_count(len(filed), 'issue')} filed: "
        + ", ".join(f"#{n}" for n in filed)
    )

    if agent == "claude":
        from controller.sandbox.model import ModelServer

        with interrupts.deferred():
            sandbox.model = ModelServer(port=0).start()
        print(f"demo: stand-in model at {sandbox.model.url}")
    # A folder of its own for the audit trail, even inside a person's checkout: the
    # controller would otherwise commit the demo's state files to whatever branch is out.
    (root / "state").mkdir()
    _git(root / "state", "init", "-q")
    config_path = root / "controller.yaml"
    config_path.write_text(
        f"# Written by `controller demo`. Its forge ({forge.url}) ran only while the demo\n"
        "# ran; `controller sandbox serve --port PORT --dir FOLDER/forge --repo "
        f"{REPOSITORY}`\n# starts it again (GITHUB_TOKEN=sandbox-{AUTHOR}).\n"
        + yaml.safe_dump(
            _config(root, forge.url, agent, sandbox.model.url if sandbox.model else None),
            sort_keys=False,
        )
    )

    log_path = root / "controller.log"
    env = {**os.environ, "GITHUB_TOKEN": forge.token(AUTHOR), "PYTHONUNBUFFERED": "1"}
    env.pop("GH_TOKEN", None)
    with open(log_path, "ab") as log_file, interrupts.deferred():
        # Through with_parent.py, which execs the controller: should the demo be killed
        # outright, the kernel stops its controller too.
        sandbox.controller = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                str(_WITH_PARENT),
                str(os.getpid()),
                "--",
                sys.executable,
                "-m",
                "controller",
                "--config",
                str(config_path),
                "run",
            ],
            cwd=root,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(f"demo: controller running (pid {sandbox.controller.pid}); log: {log_path}")
    print(f"demo: watch an agent with `tmux -L {SOCKET} attach -t worker-{filed[0]}`\n")

    state_dir = root / "state"
    shown = None
    deadline = time.monotonic() + timeout
    while True:
        states = read_states(state_dir)
        table = _table(states)
        if table != shown and states:
            print(f"[{time.monotonic() - started:5.1f}s]\n{table}\n", flush=True)
            shown = table
        if (
            len(states) >= len(filed)
            and all(states.get(n, {}).get("state") == "closed" for n in filed)
            and _committed(state_dir, filed)
        ):
            break
        stuck = _needing_a_person(states, filed)
        if stuck:
            number, error = stuck
            print(
                f"demo: stopped early: #{number} is stuck ({error})\n"
                f"demo: its state file is {state_dir / f'issue-{number}.yaml'} (history: "
                f"git -C {state_dir} log -- issue-{number}.yaml); the controller's log is "
                f"{log_path}",
                file=sys.stderr,
            )
            return 1
        if sandbox.controller.poll() is not None:
            print(
                f"demo: the controller exited with status {sandbox.controller.returncode}; "
                f"see {log_path}",
                file=sys.stderr,
            )
            return 1
        if time.monotonic() > deadline:
            print(f"demo: not finished after {timeout:.0f}s; see {log_path}", file=sys.stderr)
            return 1
        time.sleep(0.5)

    elapsed = time.monotonic() - started
    every = "the issue" if len(filed) == 1 else f"all {len(filed)} issues"
    print(f"demo: {every} closed in {elapsed:.0f}s\n")
    for number in filed:
        history = _git(
            state_dir, "log", "--reverse", "--format=%s", "--", f"issue-{number}.yaml"
        ).splitlines()
        print(f"  #{number}: {_path_taken(history)}")
    print(f"\ndemo: state files and their git history: {state_dir}")
    print(f"demo: audit trail of one issue: git -C {state_dir} log -- issue-{filed[0]}.yaml")
    print(
        f"demo: `controller --config {config_path} status` (or `history {filed[0]}`) reads "
        "them; the forge stopped with the demo (the README says how to start it again)"
    )
    if sandbox.keep:
        print("demo: --keep: no agent is left to keep; each stopped when its issue closed")
    return 0
