"""What one steady-state discovery pass costs, against the sandbox forge.

Fills a fresh forge with 10, 100 and 1000 open issues, serves it from its own process
(`controller sandbox serve`, so the server's work does not share this interpreter), warms
the adapter with one pass, then times passes in which nothing changed: wall time, the
adapter's own CPU time, requests made and requests the forge counted against the rate
limit. Beside it runs a naive client (no conditional requests, a new connection per
request) in the same run. A measurement, not a test: it asserts nothing.

    python -m tests.bench.github_steady [--sizes 10,100,1000] [--passes 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from controller.github import GitHub
from controller.sandbox.forge import Forge

REPO = "sandbox/sample"
LOGIN = "ann"


@contextmanager
def served(folder: str):
    """The forge whose data is in `folder`, running in a child process; yields its URL."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--dir",
            folder,
            "--repo",
            REPO,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        if not line.startswith("forge listening on "):
            raise SystemExit(f"the sandbox forge did not start: {line!r}")
        yield line.split()[-1]
    finally:
        child.terminate()
        child.wait(timeout=20)
        child.stdout.close()


def counted(url: str) -> int:
    """Requests the forge has counted for LOGIN; asking costs nothing, as on GitHub."""
    request = urllib.request.Request(
        url + "/rate_limit", headers={"Authorization": f"token {Forge.token(LOGIN)}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["resources"]["core"]["used"]


def measure(url: str, github: GitHub, passes: int) -> tuple[float, ...]:
    """Medians of one pass after a warm-up: seconds, CPU seconds, requests, counted."""
    github.open_issues(authors=[LOGIN])
    rows = []
    for _ in range(passes):
        made, charged = github.stats["requests"], counted(url)
        started, cpu = time.perf_counter(), time.thread_time()
        github.open_issues(authors=[LOGIN])
        elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
        rows.append((elapsed, cpu, github.stats["requests"] - made, counted(url) - charged))
    return tuple(statistics.median(column) for column in zip(*rows, strict=True))


def run(sizes: list[int], passes: int) -> list[tuple]:
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            with Forge(Path(folder), repo=REPO) as forge:
                for n in range(size):
                    forge.create_issue(LOGIN, f"issue {n}")
            with served(folder) as url:
                clients = {
                    "adapter": GitHub(url, REPO, Forge.token(LOGIN)),
                    "naive": GitHub(
                        url, REPO, Forge.token(LOGIN), conditional=False, keep_alive=False
                    ),
                }
                for name, github in clients.items():
                    with github:
                        rows.append((size, name, *measure(url, github, passes)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated issue counts")
    parser.add_argument("--passes", type=int, default=5, help="steady passes per client")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]

    rows = run(sizes, args.passes)
    print(
        f"{'issues':>7} {'client':<8} {'wall ms':>9} {'cpu ms':>8} {'requests':>9} {'counted':>8}"
    )
    for size, name, seconds, cpu, requests, charged in rows:
        print(
            f"{size:>7} {name:<8} {seconds * 1000:>9.1f} {cpu * 1000:>8.1f} {requests:>9.0f} "
            f"{charged:>8.0f}"
        )


if __name__ == "__main__":
    main()
