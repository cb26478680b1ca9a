"""Bad input: broken state files, a state file deleted mid-run, broken configuration.

A broken state file must be reported by name and left exactly as it is while the other
issues go on; a configuration error must stop the controller before it touches
anything (no state directory, no tmux server, no request to GitHub).
"""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from controller.record import MAX_BYTES
from tests.helpers import wait_for
from tests.reliability.figures import FIGURES

GOOD = """issue: {n}
state: discovered
title: a hand-made state file
"""


def _bad_state_files(state_dir, outside):
    """Name, file contents (or a symlink target) of each kind of broken file."""
    return {
        90: "issue: 90\nstate: [discovered\n",  # invalid YAML
        91: "issue: 91\nstate: finished\n",  # unknown state
        92: "issue: ninety-two\nstate: discovered\nspawns: many\n",  # wrong types
        93: GOOD.format(n=93) + "# " + "x" * (MAX_BYTES + 10) + "\n",  # huge
        94: outside,  # a symlink pointing outside the state directory
        95: GOOD.format(n=7),  # its number is not the file's
    }


def test_broken_state_files_are_reported_and_left_alone(rig, tmp_path):
    numbers = rig.file_samples((0,))
    rig.state_dir.mkdir(parents=True)
    outside = tmp_path / "outside.yaml"
    outside.write_text(GOOD.format(n=94))
    before = {}
    for n, content in _bad_state_files(rig.state_dir, outside).items():
        path = rig.state_dir / f"issue-{n}.yaml"
        if content is outside:
            path.symlink_to(outside)
        else:
            path.write_text(content)
        before[n] = path.read_bytes() if not path.is_symlink() else os.readlink(path)
    FIGURES.add(bad_inputs=len(before))

    proc = rig.start()
    rig.wait_closed(numbers, timeout=120, proc=proc)
    assert rig.stop(proc) == 0

    log = rig.log()
    for n, content in before.items():
        path = rig.state_dir / f"issue-{n}.yaml"
        assert f"issue-{n}.yaml" in log, f"#{n} not reported"
        now = path.read_bytes() if not path.is_symlink() else os.readlink(path)
        assert now == content, f"issue-{n}.yaml was changed"
    assert outside.read_text() == GOOD.format(n=94)
    rig.check(numbers)


def test_state_file_deleted_while_running(rig):
    numbers = rig.file_samples((0, 2))
    rig.agent_env["SCRIPTED_AGENT_THINK_S"] = "3"
    proc = rig.start()
    victim = numbers[0]
    wait_for(
        lambda: rig.state_of(victim) in ("spawned", "working"),
        timeout=90,
        interval=0.1,
        message="the agent running",
    )
    path = rig.state_dir / f"issue-{victim}.yaml"
    before = path.read_text()
    path.unlink()
    FIGURES.add(bad_inputs=1)
    # The controller's last write comes back as it was: the issue resumes where it
    # was, its live agent is not handed the issue a second time, its counters stay.
    wait_for(path.exists, timeout=30, interval=0.05, message="the state file restored")
    assert path.read_text() == before
    rig.wait_closed(numbers, timeout=150, proc=proc)
    assert rig.stop(proc) == 0
    assert rig.states()[victim]["spawns"] == 1
    history = subprocess.run(
        ["git", "log", "--format=%s", "--", path.name],
        cwd=rig.state_dir,
        capture_output=True,
        text=True,
    ).stdout
    assert history.count("-> discovered") == 1, history
    assert "state file was deleted; restored" in rig.log()
    rig.check(numbers)


@pytest.mark.parametrize(
    ("mutate", "names"),
    [
        (lambda c: c["github"].pop("repo"), ["github.repo"]),
        (lambda c: c["policy"].update(max_workers="three"), ["policy.max_workers"]),
        (lambda c: c["policy"].update(max_worker=2), ["max_worker"]),
        (lambda c: c["tmux"].update(poll_interval_s=[1]), ["tmux.poll_interval_s"]),
        (lambda c: c.update(agents={}), ["agents"]),
        (lambda c: c["agent"].update(pass_github_token="yes"), ["agent.pass_github_token"]),
    ],
)
def test_config_error_stops_before_anything_runs(rig, mutate, names):
    rig.file_samples((0,))
    data = rig.config()
    mutate(data)
    rig.config_path.write_text(yaml.safe_dump(data))
    requests = rig.forge.request_count
    FIGURES.add(bad_inputs=1)

    proc = rig.start(write_config=False)
    assert proc.wait(timeout=60) == 2
    out = rig.log()
    for name in names:
        assert name in out, out
    assert str(rig.config_path) in out or "controller.yaml" in out, out
    assert "Traceback" not in out
    assert not rig.state_dir.exists()
    assert rig.forge.request_count == requests
    listed = subprocess.run(["tmux", "-L", rig.socket, "list-sessions"], capture_output=True)
    assert listed.returncode != 0
