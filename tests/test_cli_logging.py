"""What a command writes besides its own output: a one-shot command prints what it did
and logs only warnings and errors, as short lines; `controller run` and `-v` log with
times."""

from __future__ import annotations

from tests.test_cli_errors import controller


def test_init_prints_what_it_made_and_no_log_lines(tmp_path):
    result = controller(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "wrote controller.yaml",
        f"state directory ready: {tmp_path / 'state'}",
    ]


def test_verbose_logs_what_a_command_does_with_times(tmp_path):
    result = controller(tmp_path, "-v", "init")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "audit repository" in line]
    assert " INFO controller.store: initialised an audit repository in " in line
    assert line[:4].isdigit()  # the date leads
