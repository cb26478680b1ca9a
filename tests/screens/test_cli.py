"""`controller pane classify`, run as a person runs it: a separate process."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.screens import captures


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "controller", "pane", "classify", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("05-trust-folder-dialog", "dialog trust"),
        ("10-permission-prompt-bash", "permission"),
        ("07-main-idle-prompt-settled", "idle"),
        ("h14a-draft-multiline-bracketed-paste", "draft"),
        ("h20c-api401-final-invalid-key", "login invalid-key"),
    ],
)
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


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "screen.txt is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "screen.txt is not a text capture"),
        (bytes(range(128, 256)) * 4, "screen.txt is not a text capture"),
    ],
)
def test_an_empty_or_binary_file_is_refused(tmp_path, content, expected):
    (tmp_path / "screen.txt").write_bytes(content)

    result = run(tmp_path, "screen.txt", "--agent", "generic")

    assert result.returncode == 2 and result.stdout == ""
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_an_empty_ansi_capture_is_refused_too(tmp_path):
    (tmp_path / "screen.txt").write_text("working\n> \n")
    (tmp_path / "screen.ansi.txt").write_bytes(b"")

    result = run(tmp_path, "screen.txt", "--ansi", "screen.ansi.txt", "--agent", "generic")

    assert result.returncode == 2 and "screen.ansi.txt is empty" in result.stderr


def test_a_file_too_big_for_a_screen_is_refused(tmp_path):
    with open(tmp_path / "huge.txt", "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: no disk space used

    result = run(tmp_path, "huge.txt", "--agent", "generic")

    assert result.returncode == 2 and result.stdout == ""
    assert "huge.txt is 67108864 bytes, too big for a capture" in result.stderr


def test_a_blank_screen_is_still_classified(tmp_path):
    (tmp_path / "screen.txt").write_text("\n" * 50)

    result = run(tmp_path, "screen.txt", "--agent", "generic")

    assert result.returncode == 0 and result.stdout.strip()
