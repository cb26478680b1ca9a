"""with_parent.py: a command that ends when the process that started it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_for

WITH_PARENT = Path(__file__).resolve().parents[2] / "controller" / "sandbox" / "with_parent.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-I", "-S", str(WITH_PARENT), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_it_becomes_the_command_when_its_parent_is_alive():
    done = run(str(os.getpid()), "--", sys.executable, "-c", "print('ran')")
    assert (done.returncode, done.stdout) == (0, "ran\n"), done.stderr


def test_a_parent_already_gone_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    # Not this process's pid: as if the parent had died and the child been reparented.
    done = run(str(os.getpid() + 1_000_000), "--", "touch", str(marker))
    assert done.returncode == 1 and not marker.exists()


PARENT = """
import os, subprocess, sys, time
with_parent, pid_file = sys.argv[1], sys.argv[2]
command = [sys.executable, "-c",
           f"import os, time; open({pid_file!r}, 'w').write(str(os.getpid())); time.sleep(600)"]
subprocess.Popen([sys.executable, "-I", "-S", with_parent, str(os.getpid()), "--", *command])
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] == "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_command_is_stopped_when_its_parent_is_killed(tmp_path):
    pid_file = tmp_path / "command.pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(WITH_PARENT), str(pid_file)])
    command = None
    try:
        wait_for(
            lambda: pid_file.exists() and pid_file.read_text(),
            timeout=30,
            message="the command started",
        )
        command = int(pid_file.read_text())
        parent.kill()  # SIGKILL: the parent runs no cleanup
        parent.wait(timeout=10)
        wait_for(lambda: _gone(command), timeout=30, message="the command to stop with its parent")
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if command is not None and not _gone(command):
            os.kill(command, signal.SIGKILL)
