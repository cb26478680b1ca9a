"""`controller pane classify`, run as a person runs it: a separate process."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.screens import captures


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controller", "pane", "classify", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("name", "expected"), [
    ("05-trust-folder-dialog", "dialog trust"),
    ("10-permission-prompt-bash", "permission"),
    ("07-main-idle-prompt-settled", "idle"),
    ("h14a-draft-multiline-bracketed-paste", "draft"),
    ("h20c-api401-final-invalid-key", "login invalid-key"),
])
def test_prints_class_and_detail(tmp_path, name, expected):
    result = run(tmp_path, str(captures.PANES / f"{name}.txt"))

    assert (result.returncode, result.stdout, result.stderr) == (0, expected + "\n", "")


def test_sibling_meta_file_is_used(tmp_path):
    name = "h07b-busy-with-task-list"
    shutil.copy(captures.PANES / f"{name}.txt", tmp_path / "screen.txt")
    (tmp_path / "screen.meta").write_text("dead=1 cmd=claude size=200x50 title=⠐ x\n")

    result = run(tmp_path, "screen.txt")

    assert result.stdout == "exited\n"


def test_ansi_capture_tells_a_placeholder_from_a_draft(tmp_path):
    name = "91-early-typed-input-before-ready"
    (tmp_path / "plain.txt").write_text(captures.text(name))
    dim = captures.ansi(name).replace("early typed text", "\x1b[2mearly typed text\x1b[22m")
    (tmp_path / "dim.ansi.txt").write_text(dim)

    without = run(tmp_path, "plain.txt")
    with_dim = run(tmp_path, "plain.txt", "--ansi", "dim.ansi.txt")

    assert (without.stdout, with_dim.stdout) == ("draft\n", "idle\n")


def test_agent_option_takes_a_profile_file(tmp_path):
    (tmp_path / "repl.yaml").write_text("extends: generic\n")
    (tmp_path / "screen.txt").write_text("working\n> \n")

    result = run(tmp_path, "screen.txt", "--agent", "repl.yaml", "--explain")

    assert result.returncode == 0
    assert result.stdout == "idle\n"
    assert "empty input box" in result.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    result = run(tmp_path, "nothing-here.txt")

    assert result.returncode == 2
    assert "nothing-here.txt: no such capture file" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_profile_is_a_clear_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("rules:\n  - {class: busy, pattern: '(oops'}\n")
    (tmp_path / "screen.txt").write_text("> \n")

    result = run(tmp_path, "screen.txt", "--agent", "bad.yaml")

    assert result.returncode == 2
    assert "bad.yaml" in result.stderr and "not a valid regular expression" in result.stderr
    assert "Traceback" not in result.stderr
