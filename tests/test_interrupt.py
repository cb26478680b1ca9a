"""Ctrl-C while a `controller` command is still starting: exit 130, one line, no traceback.

Most of a command's start-up is spent importing the commands; a SIGINT there used to
print a KeyboardInterrupt traceback from the middle of some import. The moment is made
exact with Python's own verbose import mode (PYTHONVERBOSE), which says on stderr when
each module starts to load: the signal is sent as soon as the chosen module is named.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CONSOLE_SCRIPT = Path(sys.executable).with_name("controller")


def loading(module: str, line: str) -> bool:
    """Whether a verbose-import line says the controller's `module` starts to load."""
    if not line.startswith("# code object from "):
        return False
    path = line.removeprefix("# code object from ").strip("'\n")
    folder, name = os.path.split(path)
    if os.path.basename(folder) == "__pycache__":
        folder = os.path.dirname(folder)
    return os.path.basename(folder) == "controller" and name.split(".")[0] == module


def interrupt_while_loading(command: list[str], module: str, cwd: Path) -> tuple[int, list[str]]:
    """Runs `command`, sends SIGINT when `module` starts to load; its status and own lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    env["PYTHONVERBOSE"] = "1"
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    sent = False
    lines = []
    try:
        for line in process.stderr:
            if not sent and loading(module, line):
                process.send_signal(signal.SIGINT)
                sent = True
            # After its start-up banner, what Python's verbose mode adds starts with "# "
            # or "import "; the rest is what the command itself wrote.
            elif sent and not line.startswith(("# ", "import ")):
                lines.append(line.rstrip("\n"))
        status = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert sent, f"{module} was never loaded by {command}"
    return status, lines


@pytest.mark.parametrize(
    "module",
    [
        "cli",  # imported by `python -m controller` before main() runs
        "commands_state",  # the first of the commands' imports, in main()
        "commands_run",
        "store",
    ],
)
def test_ctrl_c_while_python_m_controller_starts_is_quiet(tmp_path, module):
    status, lines = interrupt_while_loading(
        [sys.executable, "-m", "controller", "status"], module, tmp_path
    )
    assert status == 130, lines
    assert lines in ([], ["interrupted"]), lines


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="no installed `controller` script")
@pytest.mark.parametrize("module", ["commands_state", "store"])
def test_ctrl_c_while_the_controller_script_starts_is_quiet(tmp_path, module):
    status, lines = interrupt_while_loading([str(CONSOLE_SCRIPT), "status"], module, tmp_path)
    assert status == 130, lines
    assert lines in ([], ["interrupted"]), lines


def test_ctrl_c_once_the_command_runs_still_ends_it_quietly(tmp_path):
    # `peek` imports the masking of secrets only once it runs: the signal lands there.
    status, lines = interrupt_while_loading(
        [sys.executable, "-m", "controller", "peek", "7"], "masking", tmp_path
    )
    assert status == 130, lines
    assert lines == [], lines
