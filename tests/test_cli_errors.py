"""Mistakes a new user makes on the command line: one clear line and exit 2, never a
traceback, and nothing written before the mistake is found."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from controller import cli, config
from controller.commands_run import INIT_TEMPLATE


def controller(
    cwd: Path, *args: str, timeout: float = 60, **options
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )


def limit_memory() -> None:
    """Run in the child: a read without end fails at 2 GiB instead of filling the machine."""
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def one_clean_line(result: subprocess.CompletedProcess) -> str:
    """The whole error output, checked to be a single `controller: ...` line."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("controller: "), result.stderr
    return lines[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- the controller's own errors -------------------------------------------------------


@pytest.mark.parametrize("command", ["peek", "attach"])
def test_looking_at_an_agent_that_is_not_running_is_one_line(tmp_path, tmux_socket, command):
    (tmp_path / "controller.yaml").write_text(f"tmux:\n  socket: {tmux_socket}\n")
    line = one_clean_line(controller(tmp_path, command, "7"))
    assert line == (
        f"controller: no session worker-7 on tmux socket {tmux_socket}; "
        "`controller status` shows which issues have a running agent"
    )


def run_raising(monkeypatch, error: Exception) -> int:
    """`controller.cli.main` with a command that raises `error`."""

    def command(args):
        raise error

    def build_parser():
        parser = cli.argparse.ArgumentParser(prog="controller")
        parser.add_argument("-v", "--verbose", action="store_true")
        parser.set_defaults(func=command)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    return cli.main([])


def test_the_project_errors_are_one_line_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    from controller.github import RateLimited
    from controller.launch import LaunchError
    from controller.prompts import PromptError
    from controller.sessions import SessionError
    from controller.store import LockHeld

    for error, said in [
        (SessionError("no session worker-7"), "controller: no session worker-7\n"),
        (LockHeld("held by pid 12"), "controller: held by pid 12\n"),
        (PromptError("x.md: no field y"), "controller: x.md: no field y\n"),
        (LaunchError("no agent"), "controller: no agent\n"),
        (
            RateLimited("limit spent", retry_at=0.0),
            "controller: GitHub could not be read: limit spent\n",
        ),
        (config.ConfigError("c.yaml: bad"), "controller: configuration error: c.yaml: bad\n"),
    ]:
        assert run_raising(monkeypatch, error) == 2
        assert capsys.readouterr().err == said

    with pytest.raises(KeyError):
        run_raising(monkeypatch, KeyError("a bug"))


# -- the state directory ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["status"], ["status", "--json"], ["history", "7"], ["force", "7", "closed"]]
)
def test_a_file_given_as_the_state_directory_is_named_as_such(tmp_path, command):
    (tmp_path / "afile").write_text("notes\n")
    line = one_clean_line(controller(tmp_path, "--state-dir", "afile", *command))
    assert "afile: cannot be the state directory: it is a file, not a directory" in line
    assert "--state-dir afile" in line
    assert files_in(tmp_path) == ["afile"]


def test_a_state_directory_below_a_file_is_named_as_such(tmp_path):
    (tmp_path / "afile").write_text("notes\n")
    line = one_clean_line(controller(tmp_path, "--state-dir", "afile/state", "status"))
    assert "afile, on its path, is a file" in line


def test_init_checks_the_state_directory_before_writing_anything(tmp_path):
    (tmp_path / "afile").write_text("notes\n")
    line = one_clean_line(controller(tmp_path, "--state-dir", "afile", "init"))
    assert "afile: cannot be the state directory: it is a file" in line
    assert "permissions" not in line
    assert files_in(tmp_path) == ["afile"]


# -- init --repo -----------------------------------------------------------------------


@pytest.mark.parametrize("repo", ["bad repo", "a/b #x", "a/b: c", "a", "a/b/c", "../x", "", "a/"])
def test_init_refuses_a_repository_that_is_not_owner_name_and_writes_nothing(tmp_path, repo):
    result = controller(tmp_path, "init", "--repo", repo)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "a repository is OWNER/NAME" in result.stderr and repr(repo) in result.stderr
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("repo", ["octo-cat/hello.world", "a_b/c-d", "a/b"])
def test_init_writes_the_repository_exactly(tmp_path, repo):
    result = controller(tmp_path, "init", "--repo", repo)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "controller.yaml").read_text()
    assert text == INIT_TEMPLATE.format(repo=f'"{repo}"')
    assert config.load(tmp_path / "controller.yaml").github.repo == repo


def test_init_says_when_an_existing_file_keeps_its_repository(tmp_path):
    assert controller(tmp_path, "init", "--repo", "a/b").returncode == 0
    before = (tmp_path / "controller.yaml").read_text()
    line = one_clean_line(controller(tmp_path, "init", "--repo", "c/d"))
    assert "controller.yaml exists (github.repo: a/b); --repo c/d was not applied" in line
    assert "write it as github.repo in controller.yaml" in line
    assert (tmp_path / "controller.yaml").read_text() == before

    same = controller(tmp_path, "init", "--repo", "a/b")
    assert same.returncode == 0 and "left as it is" in same.stdout


# -- argument checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,expected",
    [
        (
            ["sandbox", "serve", "--port", "99999", "--dir", "d"],
            "argument --port: a port is a whole number from 0 to 65535, not '99999'",
        ),
        (["sandbox", "serve", "--port", "-1", "--dir", "d"], "not '-1'"),
        (
            ["reconcile", "--issue", "0"],
            "argument --issue: an issue number is a whole number from 1 up, not '0'",
        ),
        (["reconcile", "--issue", "x"], "an issue number is a whole number from 1 up, not 'x'"),
        (["peek", "0"], "an issue number is a whole number from 1 up, not '0'"),
        (["attach", "-2"], "an issue number is a whole number from 1 up, not '-2'"),
        (["demo", "--timeout", "0"], "argument --timeout: a number of seconds more than 0"),
        (["demo", "--timeout", "-1"], "a number of seconds more than 0, not '-1'"),
        (["demo", "--timeout", "nan"], "a number of seconds more than 0, not 'nan'"),
        (["demo", "--issues", "7"], "argument --issues: a whole number from 1 to 6, not '7'"),
        (["demo", "--issues", "0"], "a whole number from 1 to 6, not '0'"),
        (["sandbox", "model", "--port", "99999"], "a port is a whole number from 0 to 65535"),
        (["sandbox", "solve", "--issue", "0"], "an issue number is a whole number from 1 up"),
    ],
)
def test_arguments_out_of_range_are_refused_at_parsing(tmp_path, args, expected):
    result = controller(tmp_path, *args)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert files_in(tmp_path) == []


def test_demo_help_gives_the_range_of_issues(tmp_path):
    result = controller(tmp_path, "demo", "--help")
    assert result.returncode == 0
    assert "1 to 6" in " ".join(result.stdout.split())


@pytest.mark.parametrize("group,subcommand", [("sandbox", "serve"), ("pane", "classify")])
def test_a_group_without_its_subcommand_prints_its_own_help(tmp_path, group, subcommand):
    result = controller(tmp_path, group)
    assert result.returncode == 2
    assert result.stdout.startswith(f"usage: controller {group} ")
    assert subcommand in result.stdout and "history" not in result.stdout


# -- the configuration file ------------------------------------------------------------


def test_a_directory_as_the_configuration_is_named_as_such(tmp_path):
    (tmp_path / "conf").mkdir()
    line = one_clean_line(controller(tmp_path, "--config", "conf", "status"))
    assert "conf: is a directory, not a configuration file" in line
    assert "Errno" not in line


def test_a_binary_configuration_is_named_as_such(tmp_path):
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe\x00binary")
    line = one_clean_line(controller(tmp_path, "--config", "c.yaml", "status"))
    assert "c.yaml: is not UTF-8 text (byte 0xff at offset 0)" in line
    assert "codec" not in line


@pytest.mark.parametrize(
    "key,value,suggested",
    [
        ("github.timeout_s", "1e5", ["100000", "1.0e+5"]),
        ("github.timeout_s", "25E-3", ["0.025", "2.5e-2"]),
        ("policy.max_workers", "1e1", ["10"]),
    ],
)
def test_a_number_yaml_reads_as_text_gets_a_hint_that_works(tmp_path, key, value, suggested):
    section, name = key.split(".")
    path = tmp_path / "c.yaml"
    path.write_text(f"{section}:\n  {name}: {value}\n")
    line = one_clean_line(controller(tmp_path, "--config", "c.yaml", "status"))
    assert line.endswith(
        f"found the text {value!r} (YAML reads {value} as text: write {' or '.join(suggested)})"
    )
    for spelling in suggested:
        path.write_text(f"{section}:\n  {name}: {spelling}\n")
        assert getattr(getattr(config.load(path), section), name) == float(value)


def test_a_number_in_quotes_is_told_to_lose_them(tmp_path):
    (tmp_path / "c.yaml").write_text("policy:\n  max_workers: '4'\n")
    line = one_clean_line(controller(tmp_path, "--config", "c.yaml", "status"))
    assert line.endswith("found the text '4' (it is in quotes: write the number without them)")


@pytest.mark.parametrize(
    "option,command",
    [("--config", ["status"]), ("--state-dir", ["status"]), ("--config", ["doctor"])],
)
def test_an_empty_name_for_a_file_option_is_refused(tmp_path, option, command):
    result = controller(tmp_path, option, "", *command)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"controller: error: argument {option}: an empty name names no file; give a path "
        "or leave it out"
    )
    assert files_in(tmp_path) == []


def test_a_named_pipe_as_the_configuration_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "controller.yaml")
    # Opened as a file, a pipe waits for a writer for ever.
    line = one_clean_line(controller(tmp_path, "status", timeout=30))
    assert line == (
        "controller: configuration error: controller.yaml: is a named pipe, not a regular "
        "file, so not a configuration file; name the YAML file itself"
    )


def test_a_configuration_without_an_end_is_refused_not_read(tmp_path):
    os.symlink("/dev/zero", tmp_path / "controller.yaml")
    result = controller(tmp_path, "reconcile", "--dry-run", timeout=30, preexec_fn=limit_memory)
    line = one_clean_line(result)
    assert line.startswith(
        "controller: configuration error: controller.yaml: is a character device, not a "
        "regular file"
    )


def test_a_dangling_symbolic_link_as_the_configuration_is_an_error(tmp_path):
    os.symlink("elsewhere.yaml", tmp_path / "controller.yaml")
    said = (
        "controller.yaml: is a symbolic link to elsewhere.yaml, which does not exist; fix or "
        "remove the link"
    )
    assert one_clean_line(controller(tmp_path, "status")).endswith(said)
    doctor = controller(tmp_path, "doctor")
    assert doctor.returncode == 2 and doctor.stdout == f"FIX   config: {said}\n"
    assert one_clean_line(controller(tmp_path, "init")).endswith(said)
    assert files_in(tmp_path) == ["controller.yaml"]


def test_doctor_marks_a_configuration_error_to_fix(tmp_path):
    (tmp_path / "controller.yaml").write_text('agent:\n  command: "sh -c \'echo"\n')
    doctor = controller(tmp_path, "doctor")
    assert doctor.returncode == 2
    assert doctor.stdout.startswith("FIX   config: controller.yaml: agent.command ")
    assert "no closing quotation" in doctor.stdout and "ok " not in doctor.stdout
