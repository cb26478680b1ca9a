"""Figure 1: one steady-state reconcile pass with 10, 100 and 1000 tracked issues.

A real `Reconciler` (the object `controller run` drives) against the sandbox forge
served from its own process, with one state file per open issue, all waiting in
`discovered` (no worker slots, so nothing starts), an empty private tmux server and a
real clone. After a warm-up pass nothing changes, and each further pass is timed: wall
time, CPU time of this process and the processes it started, requests made and requests
the forge counted against the rate limit.

The baseline is the same pass done naively: no conditional requests, and each tracked
issue read with its own request instead of from the batched list (over the same
kept-alive connection: a new client per request would cost ~50 ms of CPU each and make
the baseline measure only that).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from controller import config as config_module
from controller.app import open_reconciler
from controller.github import GitHub
from controller.reconcile import Reconciler, _GitHubSnapshot, _issue_view
from controller.record import Record
from controller.sandbox.forge import Forge
from controller.store import Store
from tests.bench.github_steady import LOGIN, REPO, counted, served
from tests.helpers import git


class _FillStore(Store):
    """Writes state files without their audit commits, only to fill a benchmark quickly.

    The steady pass never looks at the audit trail, and a thousand commits (and eight
    thousand fsyncs) would take longer than everything measured here.
    """

    def _git_commit(self, issue: int, text: str, message: str, at: int | None) -> None:
        return None


@contextlib.contextmanager
def _no_fsync():
    saved = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = saved


class NaiveReconciler(Reconciler):
    """The pass without batching: every tracked issue is read with a request of its own.

    With `sample`, only that many issues are read and `scale` says by how much the
    measured figures must be multiplied (the quick run's shortcut at 1000 issues).
    """

    sample: int | None = None

    def _observe_github(self, records, now):
        authors = self._authors()
        issues, bodies = {}, {}
        numbers = list(records)[: self.sample] if self.sample else list(records)
        for number in numbers:
            issue = self.github.issue(number)
            issues[number] = _issue_view(issue, eligible=issue.author in authors)
            bodies[number] = issue.body or ""
        return _GitHubSnapshot(now, issues, {}, {}, bodies)


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _config(root: Path, url: str, socket: str) -> config_module.Config:
    return config_module.from_mapping(
        {
            "github": {"api_url": url, "repo": REPO, "authors": [LOGIN]},
            "repo": {"path": str(root / "repo"), "worktree_dir": str(root / "worktrees")},
            "tmux": {"socket": socket},
            "agent": {"profile": "scripted"},
            "policy": {"max_workers": 0},
            "state_dir": str(root / "state"),
        },
        "bench",
        base_dir=root,
    )


def _time_passes(
    reconciler: Reconciler, url: str, passes: int, *, warm_up: bool = True, scale: float = 1.0
) -> dict[str, float]:
    if warm_up:
        reconciler.run_pass()  # fills the conditional cache and the store's cache
    rows = []
    for _ in range(passes):
        made, charged = reconciler.github.stats["requests"], counted(url)
        started, cpu = time.perf_counter(), _cpu()
        report = reconciler.run_pass()
        wall, used = time.perf_counter() - started, _cpu() - cpu
        if report.steps or report.errors or report.github_error:
            raise SystemExit(f"bench: the steady pass was not steady: {report}")
        rows.append(
            (wall, used, reconciler.github.stats["requests"] - made, counted(url) - charged)
        )
    wall, cpu, requests, charged = (
        statistics.median(column) * scale for column in zip(*rows, strict=True)
    )
    return {
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "requests": round(requests),
        "counted": round(charged),
    }


def measure(
    size: int, passes: int, baseline_passes: int, baseline_sample: int | None = None
) -> tuple[dict, dict]:
    """(ours, baseline) for `size` tracked issues.

    The baseline pass has nothing to warm up (it caches nothing). With
    `baseline_sample`, it reads only that many issues one by one and scales the figures
    up: per-issue reads cost the same for each issue, and the quick run cannot wait
    for a thousand of them.
    """
    socket = f"bench-steady-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-steady-") as folder:
        root = Path(folder)
        with Forge(root / "forge", repo=REPO) as forge:
            urls = [forge.create_issue(LOGIN, f"steady issue {n}")["html_url"] for n in range(size)]
            git(root, "clone", "-q", forge.clone_url, str(root / "repo"))
        with _no_fsync():
            fill = _FillStore.open(root / "state")
            for n in range(1, size + 1):
                fill.create(
                    # Title and url as the controller records them: a file without
                    # them gets them written by the warm-up pass, and a file written
                    # in the last two seconds is read again by each pass after it.
                    Record(issue=n, state="discovered", title=f"steady issue {n}", url=urls[n - 1]),
                    "filled by the benchmark",
                )
        # The store re-reads files changed in the last two seconds (its timestamps could
        # hide a second change); a steady pass meets files older than that.
        time.sleep(2.1)
        with served(str(root / "forge")) as url:
            config = _config(root, url, socket)
            token = Forge.token(LOGIN)
            with (
                GitHub(url, REPO, token) as github,
                open_reconciler(
                    config, config.state_path, settle=False, github=github
                ) as reconciler,
            ):
                ours = _time_passes(reconciler, url, passes)
            with (
                GitHub(url, REPO, token, conditional=False) as github,
                open_reconciler(config, config.state_path, settle=False, github=github) as ready,
            ):
                naive = NaiveReconciler(
                    config,
                    ready.store,
                    github,
                    ready.sessions,
                    ready.worktrees,
                    ready.profile,
                    settle=False,
                )
                scale = 1.0
                if baseline_sample and baseline_sample < size:
                    naive.sample, scale = baseline_sample, size / baseline_sample
                baseline = _time_passes(naive, url, baseline_passes, warm_up=False, scale=scale)
    return ours, baseline
