"""Figures 2-6: the real `controller run` against the forge, tmux and stand-in agents.

One lab per run: the sandbox forge in this process, a private tmux server, stand-in
agents (tests/bench/standin.py) and the controller as a separate process, started
through `counted_run` so it reports the tmux clients it launched. The controller runs
with the default settings except where a figure needs otherwise: more worker slots
(so fifty agents may run at once) and, for the stall figure only, a zero stall
threshold. Latencies are read from timestamps: the forge's filing time or a file's
write time against the time the agent logged the prompt, or the audit commit.

The overhead window sleeps on purpose: it measures what the controller costs while
nothing else happens.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from controller.config import GitHubConfig
from controller.sandbox.forge import Forge
from tests.helpers import wait_for

REPO = "bench/lab"
LOGIN = "ann"
OTHER = "zed"  # files the issues used for hand edits, so none is ever picked up
PROJECT_ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).resolve().parent / "standin.py"
EDIT_POOL = 10
_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds of the process and of the children it waited for (tmux, git)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / _TICK


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    """Open descriptors, as the fewest of ten looks over a second.

    A single look can land while a git or tmux child's pipes are open, which would pass
    a transient for growth; a leak stays in every look.
    """
    counts = []
    for _ in range(10):
        counts.append(len(os.listdir(f"/proc/{pid}/fd")))
        time.sleep(0.1)
    return min(counts)


class Lab:
    def __init__(self, root: Path):
        self.root = root
        self.socket = f"bench-{uuid.uuid4().hex[:8]}"
        self.forge = Forge(root / "forge", repo=REPO)
        self.agent_log = root / "prompts.log"
        self.state = root / "state"
        self.counts_file = root / "counts.json"
        self.controller: subprocess.Popen | None = None
        self.edits_pool: list[int] = []

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> Lab:
        self.forge.start()
        self.agent_log.touch()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_controller()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        # A server killed while its clients were still attached can leave its socket file.
        socket_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (socket_dir / self.socket).unlink(missing_ok=True)
        self.forge.stop()

    def start_controller(self, *, naive_panes: bool = False, **policy) -> None:
        config = {
            "github": {"api_url": self.forge.url, "repo": REPO, "authors": [LOGIN]},
            "repo": {"path": str(self.root / "repo"), "worktree_dir": str(self.root / "worktrees")},
            "tmux": {"socket": self.socket},
            "agent": {
                "profile": "scripted",
                "command": shlex.join([sys.executable, str(STANDIN)]),
                "env": {"BENCH_AGENT_LOG": str(self.agent_log)},
            },
            "policy": {"max_workers": 100, **policy},
            "state_dir": str(self.state),
        }
        path = self.root / "controller.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "GITHUB_TOKEN": Forge.token(LOGIN),
            "BENCH_COUNTS_FILE": str(self.counts_file),
            "BENCH_NAIVE_PANES": "1" if naive_panes else "0",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("GH_TOKEN", None)
        with open(self.root / "controller.log", "ab") as log:
            self.controller = subprocess.Popen(
                [sys.executable, "-m", "tests.bench.counted_run", "--config", str(path), "run"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(
                lambda: (
                    (self.state / ".controller" / "lock").exists()
                    and (self.state / ".controller" / "lock").read_text().strip()
                ),
                timeout=60,
                message="the controller to take its lock",
            )
        except AssertionError:
            log = (self.root / "controller.log").read_text(errors="replace")
            raise AssertionError(f"the controller did not take its lock:\n{log[-3000:]}") from None

    def stop_controller(self) -> None:
        process, self.controller = self.controller, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def alive(self) -> None:
        """Stop the benchmark when the controller exited or a pass failed: no figure then."""
        log = (self.root / "controller.log").read_text(errors="replace")
        if self.controller is None or self.controller.poll() is not None:
            raise SystemExit(f"bench: the controller exited; its log ends:\n{log[-3000:]}")
        if "Traceback" in log:
            start = log.index("Traceback")
            raise SystemExit(
                f"bench: a pass of the controller failed:\n{log[start : start + 3000]}"
            )

    # -- reading the world -----------------------------------------------------------

    def prompts(self) -> list[float]:
        lines = self.agent_log.read_text(encoding="utf-8").splitlines()
        return [float(line.split(" ", 1)[0]) for line in lines if line.strip()]

    def states(self) -> dict[int, str]:
        found = {}
        for path in self.state.glob("issue-*.yaml"):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(data, dict) and isinstance(data.get("issue"), int):
                found[data["issue"]] = data.get("state")
        return found

    def working(self) -> int:
        return sum(1 for state in self.states().values() if state == "working")

    def pane_pids(self) -> dict[str, int]:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "list-panes", "-a", "-F", "#{session_name} #{pane_pid}"],
            capture_output=True,
            text=True,
        )
        return {
            name: int(pid)
            for name, pid in (line.split() for line in out.stdout.splitlines() if line.strip())
        }

    def counts(self) -> dict[str, int]:
        self.counts_file.unlink(missing_ok=True)
        self.controller.send_signal(signal.SIGUSR1)
        wait_for(self.counts_file.exists, timeout=10, message="the controller's counts")
        return json.loads(self.counts_file.read_text())

    # -- figures ---------------------------------------------------------------------

    def reaction(self, runs: int) -> list[float]:
        """Issue filed until its agent has the prompt, at a random phase of the poll."""
        poll = GitHubConfig().poll_interval_s
        latencies = []
        for run in range(runs):
            time.sleep(random.uniform(0, poll))
            before = len(self.prompts())
            filed = time.time()
            self.forge.create_issue(LOGIN, f"bench reaction {run}")
            wait_for(
                lambda before=before: len(self.prompts()) > before,
                timeout=poll + 60,
                interval=0.01,
                message="the prompt to reach the agent",
            )
            latencies.append(self.prompts()[before] - filed)
            self.alive()
        return latencies

    def _make_edit_pool(self) -> None:
        for n in range(EDIT_POOL):
            issue = self.forge.create_issue(OTHER, f"bench hand edits {n}")
            self.forge.close_issue(issue["number"])
            self.edits_pool.append(issue["number"])

    def _last_commit(self, number: int) -> str:
        return subprocess.run(
            [
                "git",
                "-C",
                str(self.state),
                "log",
                "-1",
                "--format=%H",
                "--",
                f"issue-{number}.yaml",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()

    def _edit(self, number: int, state: str) -> str:
        text = f"issue: {number}\nstate: {state}\ntitle: edited at {time.time():.6f}\n"
        path = self.state / f"issue-{number}.yaml"
        temp = path.with_name(f".bench-{number}.tmp")
        temp.write_text(text)
        os.replace(temp, path)
        return text

    def edit_latency(self, runs: int) -> list[float]:
        """A state file edited by hand until its audit commit exists."""
        if not self.edits_pool:
            self._make_edit_pool()
        number = self.edits_pool[0]
        latencies = []
        for run in range(runs):
            before = self._last_commit(number)
            started = time.time()
            self._edit(number, "closed" if run % 2 else "discovered")
            wait_for(
                lambda before=before: self._last_commit(number) != before,
                timeout=30,
                interval=0.005,
                message=f"the hand edit of #{number} to be recorded",
            )
            latencies.append(time.time() - started)
            wait_for(lambda: self._settled(number), timeout=30, message="a quiet state file")
        return latencies

    def _settled(self, number: int) -> bool:
        # The controller may close a reopened issue right after the hand edit; wait for it.
        text = (self.state / f"issue-{number}.yaml").read_text()
        return "forced: true" in text and ("state: closed" in text or "discovered" in text)

    def fill_agents(self, total: int) -> None:
        have = len(self.pane_pids())
        for n in range(max(0, total - have)):
            self.forge.create_issue(LOGIN, f"bench agent {n}")
        wait_for(
            lambda: self.working() >= total and self.alive() is None,
            timeout=60 + total * 5,
            interval=0.5,
            message=f"{total} agents working",
        )

    def overhead(self, seconds: float) -> dict[str, float]:
        self.alive()
        pid = self.controller.pid
        first, cpu, started = self.counts(), _proc_cpu_s(pid), time.monotonic()
        time.sleep(seconds)
        last, used = self.counts(), _proc_cpu_s(pid) - cpu
        elapsed = time.monotonic() - started
        self.alive()
        return {
            "cpu_percent": round(100 * used / elapsed, 2),
            "rss_mb": round(_rss_mb(pid), 1),
            "tmux_spawns_per_s": round((last["tmux"] - first["tmux"]) / elapsed, 2),
        }

    def stall_latency(self, runs: int) -> list[float]:
        """A working agent goes idle until its nudge is submitted (stall threshold 0)."""
        pids = self.pane_pids()
        names = sorted(pids)[:runs]
        latencies = []
        for name in names:
            number = int(name.rsplit("-", 1)[1])
            wait_for(
                lambda number=number: self.states().get(number) == "working",
                timeout=30,
                message=f"#{number} working",
            )
            before = len(self.prompts())
            started = time.time()
            os.kill(pids[name], signal.SIGUSR2)
            wait_for(
                lambda before=before: len(self.prompts()) > before,
                timeout=60,
                interval=0.01,
                message=f"the nudge of #{number}",
            )
            latencies.append(self.prompts()[before] - started)
        return latencies

    def growth(self, transitions: int) -> dict[str, float]:
        """Memory and descriptors after warm-up and after `transitions` hand-made ones."""
        if not self.edits_pool:
            self._make_edit_pool()
        # Each round is two transitions per issue: a hand edit forces `discovered`, and
        # the controller closes the issue again (it is closed on GitHub). Waiting for
        # both keeps every edit a real transition: an edit to the state a file already
        # has is only an edit, and the controller would not rewrite it.
        rounds = max(2, transitions // (2 * len(self.edits_pool)))
        warm = max(1, rounds // 5)
        pid = self.controller.pid
        baseline = None
        for round_number in range(rounds):
            if round_number == warm:
                baseline = (_rss_mb(pid), _fds(pid))
            written = {n: self._edit(n, "discovered") for n in self.edits_pool}
            wait_for(
                lambda written=written: all(
                    text != (now := (self.state / f"issue-{n}.yaml").read_text())
                    and "state: closed" in now
                    for n, text in written.items()
                ),
                timeout=60,
                interval=0.02,
                message="the hand edits to be recorded and the issues closed again",
            )
            self.alive()
        return {
            "rss_mb_delta": round(_rss_mb(pid) - baseline[0], 1),
            "fds_delta": _fds(pid) - baseline[1],
        }


def measure(
    *,
    reaction_runs: int,
    edit_runs: int,
    agents: int,
    seconds: float,
    stall_runs: int,
    transitions: int,
    say=print,
) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-live-") as folder, Lab(Path(folder)) as lab:
        lab.start_controller()
        say("  reaction latency ...")
        reaction = lab.reaction(reaction_runs)
        say("  hand-edit latency ...")
        edits = lab.edit_latency(edit_runs)
        say(f"  starting {agents} agents ...")
        lab.fill_agents(agents)
        time.sleep(2)  # the last transitions' commits are not part of the idle cost
        say(f"  overhead for {seconds:.0f}s ...")
        ours = lab.overhead(seconds)
        lab.stop_controller()
        lab.start_controller(naive_panes=True)
        time.sleep(3)
        say(f"  overhead for {seconds:.0f}s, one capture per pane ...")
        naive = lab.overhead(seconds)
        lab.stop_controller()
        lab.start_controller(stall_after_s=0)
        say("  stall latency ...")
        stall = lab.stall_latency(stall_runs)
        say(f"  growth over {transitions} transitions ...")
        growth = lab.growth(transitions)
    return {
        "reaction_latency_s": round(statistics.median(reaction), 3),
        "edit_latency_s": round(statistics.median(edits), 3),
        "stall_latency_s": round(statistics.median(stall), 3),
        "overhead_50": ours,
        "overhead_50_baseline": naive,
        "growth": growth,
        "samples": {
            "reaction_s": [round(x, 3) for x in reaction],
            "edit_s": [round(x, 3) for x in edits],
            "stall_s": [round(x, 3) for x in stall],
            "agents": agents,
            "overhead_window_s": seconds,
            "transitions": transitions,
        },
    }
