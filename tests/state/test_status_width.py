"""`controller status` keeps one line per issue however long the issue's title."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.state.test_commands import controller

LONG_TITLE = "Crash when " + "the configuration is very long " * 12 + "END"


def _state(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "issue-7.yaml").write_text(f"issue: 7\nstate: working\ntitle: {LONG_TITLE}\n")
    return state


def test_a_long_title_is_cut_when_piped_and_whole_in_json(tmp_path):
    state = _state(tmp_path)
    result = controller(tmp_path, "--state-dir", str(state), "status")
    assert result.returncode == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("#7 ")]
    assert "END" not in row and row.endswith("...")
    assert row.split("  ")[-1] == LONG_TITLE[:77] + "..."
    listed = controller(tmp_path, "--state-dir", str(state), "status", "--json")
    assert '"title": "' + LONG_TITLE + '"' in listed.stdout


def test_a_long_title_fits_the_terminal(tmp_path):
    state = _state(tmp_path)
    main, child = pty.openpty()
    env = dict(os.environ, COLUMNS="100")
    with subprocess.Popen(
        [sys.executable, "-m", "controller", "--state-dir", str(state), "status"],
        cwd=tmp_path,
        env=env,
        stdout=child,
        stderr=subprocess.PIPE,
    ) as proc:
        os.close(child)
        output = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the pty's other end closed
                break
            if not chunk:
                break
            output += chunk
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    os.close(main)
    lines = output.decode().splitlines()
    (row,) = [line for line in lines if line.startswith("#7 ")]
    assert row.endswith("...") and len(row) <= 100
    assert max(len(line) for line in lines) <= 100
