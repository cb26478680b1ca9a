"""The benchmark suite still runs and still writes every figure (it asserts no timings).

The suite is not run as timed tests; this one small run keeps it from rotting when the
controller changes under it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASS_KEYS = {"wall_s", "cpu_s", "requests", "counted"}
OVERHEAD_KEYS = {"cpu_percent", "rss_mb", "tmux_spawns_per_s"}


def test_quick_run_writes_every_figure(tmp_path):
    output = tmp_path / "figures.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.bench",
            "--quick",
            "--json",
            str(output),
            "--sizes",
            "5",
            "--agents",
            "2",
            "--seconds",
            "1",
            "--transitions",
            "20",
            "--runs",
            "1",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, out[-3000:]

    figures = json.loads(output.read_text())
    assert set(figures["steady_pass"]) == {"5"}
    assert set(figures["steady_pass"]["5"]) == PASS_KEYS
    assert set(figures["steady_pass_baseline"]["5"]) == PASS_KEYS
    for key in ("reaction_latency_s", "edit_latency_s", "stall_latency_s"):
        assert figures[key] > 0
    assert set(figures["overhead_50"]) == OVERHEAD_KEYS
    assert set(figures["overhead_50_baseline"]) == OVERHEAD_KEYS
    assert set(figures["growth"]) == {"rss_mb_delta", "fds_delta"}
    assert "reaction latency" in out
