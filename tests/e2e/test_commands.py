"""`controller reconcile`, `doctor` and configuration errors, as a person runs them."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


def test_a_dry_run_prints_the_plan_and_changes_nothing(sandbox):
    first = sandbox.file("slug-dashes")
    sandbox.file("median-even")
    result = sandbox.controller("reconcile", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert f"would: #{first} new -> discovered: open issue by " in result.stdout
    assert not sandbox.state_dir.exists() and not sandbox.repo_path.exists()
    assert sandbox.sessions() == []


def test_a_dry_run_shows_a_hand_edit_as_the_forced_transition_it_would_be(sandbox):
    number = sandbox.file("slug-dashes")
    assert sandbox.controller("reconcile").returncode == 0
    assert sandbox.state(number)["state"] == "spawned"
    path = sandbox.state_dir / f"issue-{number}.yaml"
    edited = path.read_text().replace("state: spawned", "state: discovered")
    path.write_text(edited)

    result = sandbox.controller("reconcile", "--dry-run")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"would: #{number} spawned -> discovered (forced): forced by hand",
        f"would: #{number} discovered: forced discovered: agent stopped",
    ]
    assert path.read_text() == edited and sandbox.sessions() == [f"worker-{number}"]
    assert sandbox.path_taken(number) == ["discovered", "worktree", "spawned"]


def test_one_pass_acts_once_and_only_on_the_issue_asked_for(sandbox):
    first = sandbox.file("slug-dashes")
    second = sandbox.file("median-even")
    result = sandbox.controller("reconcile", "--issue", str(second))
    assert result.returncode == 0, result.stderr
    assert not (sandbox.state_dir / f"issue-{first}.yaml").exists()
    assert sandbox.state(second)["state"] == "spawned"
    assert sandbox.sessions() == [f"worker-{second}"]
    assert sandbox.path_taken(second) == ["discovered", "worktree", "spawned"]


def test_a_step_that_fails_is_printed_as_failed_not_as_done(sandbox):
    number = sandbox.file("slug-dashes")
    sandbox.configure(agent={"command": "no-such-agent-binary"})
    result = sandbox.controller("reconcile")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any("discovered -> worktree" in x and "[failed" not in x for x in lines), lines
    launch = [x for x in lines if x.startswith(f"#{number} worktree -> spawned: ")]
    assert launch and launch[0].endswith("[failed: retried later]"), lines
    # Said once, with when it is retried.
    (said,) = [x for x in result.stderr.splitlines() if "launch failed" in x]
    assert said.startswith(f"controller: error: #{number} launch failed: "), result.stderr
    assert "; retrying in " in said
    assert sandbox.state(number)["state"] == "worktree"


def test_reconcile_exits_2_when_github_cannot_be_reached(sandbox):
    sandbox.configure(github={"api_url": "http://127.0.0.1:9", "timeout_s": 2})
    result = sandbox.controller("reconcile")
    assert result.returncode == 2
    assert "127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr


def test_doctor_says_what_is_fine_and_what_to_fix(sandbox):
    good = sandbox.controller("doctor")
    assert good.returncode == 0, good.stdout
    assert "token is alice" in good.stdout and "alice/textkit" in good.stdout
    sandbox.configure(agent={"command": "no-such-agent-binary"})
    bad = sandbox.controller("doctor")
    assert bad.returncode == 2 and "FIX" in bad.stdout and "no-such-agent-binary" in bad.stdout


def test_doctor_names_the_prompt_templates_a_prompts_dir_lacks(sandbox):
    assert "ok    prompts:" in sandbox.controller("doctor").stdout
    folder = sandbox.root / "my-prompts"
    folder.mkdir()
    (folder / "issue-solver.md").write_text("Solve #{number}.\n")
    data = yaml.safe_load(sandbox.config_path.read_text())
    data["prompts_dir"] = str(folder)
    sandbox.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    bad = sandbox.controller("doctor")
    assert bad.returncode == 2
    line = next(x for x in bad.stdout.splitlines() if x.startswith("FIX   prompts:"))
    assert str(folder) in line and "nudge-continue.md" in line and "ci-failed.md" in line
    assert "issue-solver.md" not in line
    # The controller refuses to start on such a folder, before anything runs.
    refused = sandbox.controller("reconcile")
    assert refused.returncode == 2 and "nudge-continue.md" in refused.stdout + refused.stderr
    assert not sandbox.state_dir.exists() or not list(sandbox.state_dir.glob("issue-*.yaml"))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("policy:\n  max_wrokers: 3\n", "unknown key policy.max_wrokers"),
        ("policy:\n  max_workers: many\n", "policy.max_workers must be a whole number"),
        ("github: [1, 2]\n", "github must be a mapping"),
        ("tmux:\n  socket: a\n   bad: indent\n", "line 3"),
    ],
)
def test_configuration_errors_name_the_file_and_key_before_anything_runs(sandbox, text, expected):
    sandbox.config_path.write_text(text)
    result = sandbox.controller("reconcile")
    assert result.returncode == 2
    assert str(sandbox.config_path) in result.stderr and expected in result.stderr
    assert not sandbox.state_dir.exists()


def controller_in(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`controller ARGS` in a folder of its own, no sandbox needed."""
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["doctor"],
        ["status"],
        ["reconcile", "--dry-run"],
        ["history", "7"],
        ["peek", "7"],
        ["force", "7", "closed"],
    ],
)
def test_a_named_configuration_file_that_does_not_exist_is_an_error(tmp_path, command):
    result = controller_in(tmp_path, "--config", "nope.yaml", *command)
    assert result.returncode == 2, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "nope.yaml: no such configuration file; `controller init` writes one" in output
    assert "is valid" not in output and "Traceback" not in output
    assert not (tmp_path / "state").exists()


def test_without_a_name_a_missing_controller_yaml_gives_the_defaults(tmp_path):
    result = controller_in(tmp_path, "status")
    assert result.returncode == 0, result.stderr
    doctor = controller_in(tmp_path, "doctor")
    assert "config: no controller.yaml here; the defaults apply" in doctor.stdout


def hold_the_lock(state_dir: Path) -> subprocess.Popen:
    """Another controller, as far as the lock goes: it holds it until its stdin closes."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom controller.store import Store\n"
            "with Store(sys.argv[1]).lock():\n    print('held', flush=True)\n"
            "    sys.stdin.read()\n",
            str(state_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def release(holder: subprocess.Popen) -> None:
    holder.stdin.close()
    holder.wait(timeout=10)
    holder.stdout.close()


def test_a_held_lock_is_told_once_with_what_to_do(sandbox):
    holder = hold_the_lock(sandbox.state_dir)
    try:
        result = sandbox.controller("reconcile")
    finally:
        release(holder)
    assert result.returncode == 2
    assert f"held by another controller (pid {holder.pid}, running since " in result.stderr
    assert result.stderr.count("another controller") == 1
    assert result.stderr.count("--wait") == 1 and "stop it first" in result.stderr


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_reconcile_tells_each_invalid_file_once(sandbox, dry_run):
    sandbox.state_dir.mkdir()
    path = sandbox.state_dir / "issue-8.yaml"
    path.write_text("issue: 8\nstate: wroking\n")
    result = sandbox.controller("reconcile", *dry_run)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("issue-8.yaml") == 1, output
    assert "line 2: unknown state 'wroking'" in output
    # Said as a short line, like the command's own, not as a timed log record.
    assert f"controller: error: skipped until fixed: {path} line 2: " in result.stderr


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_a_pass_with_nothing_to_do_says_so_with_or_without_dry_run(sandbox, dry_run):
    result = sandbox.controller("reconcile", *dry_run)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "nothing to do\n"


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_reconcile_of_an_issue_nobody_knows_says_why_nothing_is_done(sandbox, dry_run):
    number = sandbox.file("slug-dashes")
    result = sandbox.controller("reconcile", "--issue", "9999", *dry_run)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("nothing to do: #9999 is not tracked (no state file in "), (
        result.stdout
    )
    assert "and is not an open issue on GitHub that the configuration picks" in result.stdout
    assert len(result.stdout.splitlines()) == 1
    # An issue that is tracked and has nothing to do now is not said to be unknown.
    assert sandbox.controller("reconcile", "--issue", str(number)).returncode == 0
    again = sandbox.controller("reconcile", "--issue", str(number), *dry_run)
    assert "is not tracked" not in again.stdout, again.stdout


def doctor_line(cwd: Path, name: str) -> str:
    result = controller_in(cwd, "doctor")
    return next(x for x in result.stdout.splitlines() if x[6:].startswith(f"{name}:"))


def test_doctor_checks_the_state_directory(tmp_path):
    config = tmp_path / "controller.yaml"
    config.write_text("state_dir: ./st\n")
    assert (
        doctor_line(tmp_path, "state")
        == f"ok    state: {tmp_path / 'st'} (made on the first start)"
    )
    (tmp_path / "st").mkdir()
    assert doctor_line(tmp_path, "state") == f"ok    state: {tmp_path / 'st'}"
    (tmp_path / "afile").write_text("notes\n")
    for state_dir in ("afile", "afile/st"):
        config.write_text(f"state_dir: {state_dir}\n")
        line = doctor_line(tmp_path, "state")
        assert line.startswith(
            f"FIX   state: {tmp_path / state_dir}: cannot be the state directory"
        )
        assert "is a file, not a directory" in line and "state_dir in controller.yaml" in line
    assert files_in(tmp_path) == ["afile", "controller.yaml", "st"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_doctor_says_a_state_directory_this_user_may_not_write(tmp_path):
    (tmp_path / "controller.yaml").write_text("state_dir: ./locked/st\n")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        line = doctor_line(tmp_path, "state")
        assert line == (
            f"FIX   state: {locked / 'st'} does not exist and cannot be made: this user may not "
            f"write in {locked}; create it by hand, or set state_dir to a folder this user may "
            "write"
        )
        (tmp_path / "controller.yaml").write_text("state_dir: ./locked\n")
        line = doctor_line(tmp_path, "state")
        assert line.startswith(f"FIX   state: {locked}: this user may not read and write in it")
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only file system needs root")
def test_doctor_says_a_read_only_file_system_and_suggests_no_chmod(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        for state_dir, where in ((disk, "it is"), (disk / "st", f"{disk} is")):
            (tmp_path / "controller.yaml").write_text(f"state_dir: {state_dir}\n")
            line = doctor_line(tmp_path, "state")
            assert line == (
                f"FIX   state: {state_dir}: {where} on a read-only file system; mount it "
                "read-write or set state_dir to a folder on a writable disk"
            )
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    ("signum", "said"),
    [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated"), (signal.SIGHUP, "terminated")],
    ids=["ctrl-c", "sigterm", "terminal-closed"],
)
def test_ctrl_c_during_reconcile_prints_the_steps_already_done(sandbox, signum, said):
    # The clone exists first, so a hook can hold the second issue's worktree step.
    assert sandbox.controller("reconcile").stdout == "nothing to do\n"
    first = sandbox.file("slug-dashes")
    second = sandbox.file("median-even")
    holding = sandbox.root / "holding"
    hook = sandbox.repo_path / ".git" / "hooks" / "post-checkout"
    hook.write_text(
        "#!/bin/sh\n"
        f'case "$PWD" in */issue-{second})\n'
        f"  touch {shlex.quote(str(holding))}\n"
        "  n=0; while [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done;;\n"
        "esac\n"
    )
    hook.chmod(0o755)
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "--config", str(sandbox.config_path), "reconcile"],
        cwd=sandbox.root,
        env=sandbox.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for(holding.exists, timeout=60, message="the second issue's worktree step")
        # As Ctrl-C in a terminal: the whole process group, git and its hook too.
        os.killpg(process.pid, signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 128 + signum, out + err
    assert err.splitlines()[-1:] == [said], err
    assert "Traceback" not in err
    lines = out.splitlines()
    heads = [line.split(": ", 1)[0] for line in lines]
    assert heads == [
        f"#{first} new -> discovered",
        f"#{second} new -> discovered",
        f"#{first} discovered -> worktree",
        f"#{first} worktree -> spawned",
        f"#{second} discovered -> worktree",
    ], lines
    assert lines[-1].endswith("[stopped: left for the next pass]"), lines
    # What is printed as done is what was committed.
    assert sandbox.path_taken(first) == ["discovered", "worktree", "spawned"]
    assert sandbox.path_taken(second) == ["discovered"]


def test_reconcile_wait_says_once_that_it_waits_for_the_lock(sandbox):
    holder = hold_the_lock(sandbox.state_dir)
    err_path = sandbox.root / "reconcile.err"
    try:
        with open(err_path, "w") as err:
            waiting = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "controller",
                    "--config",
                    str(sandbox.config_path),
                    "reconcile",
                    "--wait",
                ],
                cwd=sandbox.root,
                env=sandbox.env(),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        try:
            said = wait_for(
                lambda: err_path.read_text(),
                timeout=30,
                message="a line saying reconcile waits for the lock",
            )
            assert waiting.poll() is None
        finally:
            release(holder)
        out, _ = waiting.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert said.startswith(
        f"controller: waiting for the lock: {sandbox.state_dir}: held by another controller "
        f"(pid {holder.pid}, running since "
    ), said
    assert said.count("\n") == 1, said
    assert waiting.returncode == 0, err_path.read_text()
    assert err_path.read_text() == said
    assert out == "nothing to do\n"


def test_doctor_says_max_workers_0_starts_no_agent(sandbox):
    assert "policy.max_workers" not in sandbox.controller("doctor").stdout
    sandbox.configure(policy={"max_workers": 0})
    result = sandbox.controller("doctor")
    assert result.returncode == 2, result.stdout
    line = next(x for x in result.stdout.splitlines() if "policy.max_workers" in x)
    assert line.startswith("FIX   policy.max_workers: 0, so no agent will ever start"), line
    assert f"raise policy.max_workers in {sandbox.config_path}" in line
