"""`controller run` with a count of the processes it starts, for the overhead figure.

The benchmarks need to know how many tmux clients the controller launches per second.
Counting from outside would need root (the kernel's process events) or a shim on PATH
that costs a fork of its own; counting inside costs one increment per launch. So this
starts the real command-line entry point after wrapping `subprocess.Popen`, and writes
the counts as JSON to BENCH_COUNTS_FILE whenever it receives SIGUSR1.

With BENCH_NAIVE_PANES=1 the controller captures each pane with its own tmux call, one
per pane per poll: the baseline the batched capture is measured against.

    python -m tests.bench.counted_run --config FILE run
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from controller import cli
from controller.sessions import Sessions

counts = {"tmux": 0, "git": 0, "other": 0}
_popen_init = subprocess.Popen.__init__


def _counting_init(self, args, *rest, **options):
    first = args[0] if isinstance(args, list | tuple) else str(args).split()[0]
    name = os.path.basename(str(first))
    counts[name if name in counts else "other"] += 1
    _popen_init(self, args, *rest, **options)


def _write_counts(*_):
    path = os.environ.get("BENCH_COUNTS_FILE")
    if path:
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(counts, handle)
        os.replace(path + ".tmp", path)


def _capture_each(self, names, *, ansi=False, listed=None):
    screens = {}
    for name in names:
        try:
            screens[name] = self.capture(name, ansi=ansi)
        except Exception:
            continue
    return screens


_profiler = None


def _on_usr1(*_):
    """Counts are written; with BENCH_PROFILE, profiling starts or stops (one window)."""
    global _profiler
    _write_counts()
    path = os.environ.get("BENCH_PROFILE")
    if not path:
        return
    if _profiler is None:
        import cProfile

        _profiler = cProfile.Profile()
        _profiler.enable()
    else:
        _profiler.disable()
        _profiler.dump_stats(f"{path}.{os.getpid()}")


def _observe_each(self, names):
    panes = self.list()
    return panes, _capture_each(self, [name for name in names if name in panes])


def main() -> int:
    subprocess.Popen.__init__ = _counting_init
    if os.environ.get("BENCH_NAIVE_PANES") == "1":
        Sessions.capture_many = _capture_each
        Sessions.observe = _observe_each
    signal.signal(signal.SIGUSR1, _on_usr1)
    try:
        return cli.main(sys.argv[1:])
    finally:
        _write_counts()


if __name__ == "__main__":
    sys.exit(main())
