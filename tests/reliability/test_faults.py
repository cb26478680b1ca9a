"""GitHub, disk and lock faults under a running controller.

GitHub faults come from the forge's fault queue (each request takes the next one);
the controller must slow down, carry on, and record nothing from a failed read. The
disk faults need root to mount a small tmpfs (full) or a read-only bind; without
root they are skipped with the reason. The audit repository locked by another git
process is an `index.lock` in its git directory.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from controller.record import Record
from controller.store import LockLost, Store, StoreError
from tests.helpers import wait_for
from tests.reliability.figures import FIGURES

ROOT = os.geteuid() == 0


def _history(rig, number: int) -> list[str]:
    out = subprocess.run(
        ["git", "log", "--reverse", "--format=%s", "--", f"issue-{number}.yaml"],
        cwd=rig.state_dir,
        capture_output=True,
        text=True,
    ).stdout
    return out.splitlines()


def test_github_faults_slow_down_and_carry_on(rig):
    numbers = rig.file_samples((0, 2))
    rig.agent_env["SCRIPTED_AGENT_THINK_S"] = "2"
    rig.overrides["github"] = {"timeout_s": 2}
    injected = [("500", 3), ("502", 3), ("secondary", 2), ("429", 2), ("hang", 1)]
    proc = rig.start()
    wait_for(
        lambda: rig.state_dir.exists() and rig.states(),
        timeout=60,
        interval=0.1,
        message="the first state file",
    )
    for kind, count in injected:
        rig.forge.inject_faults(kind, count, hang_s=4)
        FIGURES.fault(f"github-{kind}", count)
        wait_for(
            lambda: not rig.forge.faults.queue,
            timeout=60,
            interval=0.1,
            message=f"the {kind} faults served",
        )
    rig.wait_closed(numbers, timeout=150, proc=proc)
    assert rig.stop(proc) == 0
    for n in numbers:
        # Nothing recorded from a failed read: no issue was closed, stalled or restarted
        # because GitHub did not answer.
        history = " | ".join(_history(rig, n))
        assert "issue closed (" not in history, history
        assert "-> discovered" not in history.split("new -> discovered", 1)[1], history
    rig.check(numbers)


def test_audit_repository_locked_by_another_git(rig):
    numbers = rig.file_samples((0,))
    rig.state_dir.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(rig.state_dir)], check=True)
    lock = rig.state_dir / ".git" / "index.lock"
    lock.write_text("")
    FIGURES.fault("audit-index-lock")
    proc = rig.start()
    # The controller works on while the lock is held (its audit commits use a private
    # index), or reports and retries; it must not exit.
    wait_for(
        lambda: rig.state_of(numbers[0]) in ("spawned", "working", "pr-open", "ci-green", "closed"),
        timeout=90,
        interval=0.2,
        message="progress with the lock held",
    )
    assert proc.poll() is None, rig.log()[-3000:]
    lock.unlink()
    rig.wait_closed(numbers, timeout=120, proc=proc)
    assert rig.stop(proc) == 0
    rig.check(numbers)


def test_audit_ref_locked_then_released(tmp_path):
    """HEAD's lock held by another git: the write is reported, then completed in order."""
    store = Store.open(tmp_path / "state")
    store.create(Record(issue=5, state="discovered"), "found")
    head_lock = tmp_path / "state" / ".git" / "HEAD.lock"
    head_lock.write_text("")
    FIGURES.fault("audit-head-lock")
    with pytest.raises(StoreError):
        store.transition(5, "worktree", "branch ready")
    head_lock.unlink()
    store.transition(5, "spawned", "agent started")
    history = [(h.source, h.dest) for h in store.history(5)]
    assert history == [("new", "discovered"), ("discovered", "worktree"), ("worktree", "spawned")]


def test_a_lasting_audit_lock_is_said_once_while_it_lasts(rig):
    """A ref lock left by a crashed git fails each pass's audit commit: one ERROR line,
    not one per pass (the repeats are debug lines), and all is recorded once it goes."""
    numbers = rig.file_samples((0,))
    proc = rig.start("-v", "run")
    wait_for(
        lambda: rig.state_of(numbers[0]) in ("spawned", "working"),
        timeout=90,
        interval=0.1,
        message="an agent at work",
    )
    lock = rig.state_dir / ".git" / "HEAD.lock"
    lock.write_text("")
    FIGURES.fault("audit-head-lock-lasting")
    unrecorded = re.compile(r" (ERROR|DEBUG) controller\.reconcile: #\d+ .*: done, not recorded: ")
    wait_for(
        lambda: len(unrecorded.findall(rig.log())) >= 4,
        timeout=60,
        interval=0.2,
        message="several passes with the lock held",
    )
    lock.unlink()
    rig.wait_closed(numbers, timeout=120, proc=proc)
    assert rig.stop(proc) == 0
    said = unrecorded.findall(rig.log())
    # Once per step that could not be recorded (the agent may move on meanwhile).
    assert said.count("ERROR") <= 2 and said.count("DEBUG") >= 2, said
    rig.check(numbers)


def test_two_controllers_at_once(rig):
    numbers = rig.file_samples((0,))
    rig.write_config()
    first = rig.start(write_config=False)
    second = rig.start(write_config=False)
    FIGURES.fault("two-controllers")
    wait_for(
        lambda: first.poll() is not None or second.poll() is not None,
        timeout=60,
        interval=0.1,
        message="one controller refusing",
    )
    loser, winner = (first, second) if first.poll() is not None else (second, first)
    assert loser.returncode == 2, rig.log()[-4000:]
    assert "another controller" in rig.log()
    rig.wait_closed(numbers, timeout=120, proc=winner)
    assert rig.stop(winner) == 0
    rig.check(numbers)


def test_state_folder_moved_away_while_running(rig):
    """The lock goes with the folder: the controller does nothing (and makes no new folder
    where a second controller could start) until the folder is back."""
    numbers = rig.file_samples((0,))
    proc = rig.start()
    wait_for(
        lambda: rig.state_of(numbers[0]) in ("spawned", "working"),
        timeout=90,
        interval=0.1,
        message="an agent at work",
    )
    moved = rig.state_dir.with_name("state-moved-away")
    os.rename(rig.state_dir, moved)
    FIGURES.fault("state-dir-moved")
    lost = "not the folder this controller locked when it started"
    wait_for(lambda: lost in rig.log(), timeout=60, interval=0.1, message="the move noticed")
    assert not rig.state_dir.exists(), "the controller made the moved folder again"
    assert proc.poll() is None, rig.log()[-3000:]

    os.rename(moved, rig.state_dir)
    rig.wait_closed(numbers, timeout=120, proc=proc)
    assert rig.stop(proc) == 0
    log = rig.log()
    assert "is the folder this controller locked again; carrying on" in log
    assert log.count(lost) == 1 and "Traceback" not in log, log[-4000:]
    rig.check(numbers)


def test_a_lock_on_a_replaced_folder_is_refused(tmp_path):
    state = tmp_path / "state"
    store = Store.open(state)
    with store.lock():
        store.check_lock()
        os.rename(state, tmp_path / "old")
        with pytest.raises(LockLost, match="moved, replaced or deleted"):
            store.check_lock()
        # Moved between the pass's lock check and its write probe: said as the move.
        with pytest.raises(LockLost, match="moved, replaced or deleted"):
            store.check_writable()
        second = Store.open(state)  # a new folder at the path, locked by someone else
        with second.lock():
            with pytest.raises(LockLost):
                store.check_lock()
            second.check_lock()
    store.check_lock()  # no lock held: nothing to check


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def mounted(tmp_path):
    if not ROOT:
        pytest.skip("disk faults need root to mount a small tmpfs or a read-only bind")
    points: list = []

    def mount(*args: str, target) -> None:
        target.mkdir(parents=True, exist_ok=True)
        try:
            _mount(*args, str(target))
        except (subprocess.CalledProcessError, FileNotFoundError) as error:
            pytest.skip(f"cannot mount here ({error}); disk faults need mount privileges")
        points.append(target)

    yield mount
    for target in reversed(points):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def _fill(folder) -> None:
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_disk_full_keeps_the_old_file_whole(tmp_path, mounted):
    state = tmp_path / "state"
    mounted("-t", "tmpfs", "-o", "size=512k", "tmpfs", target=state)
    store = Store.open(state)
    store.create(Record(issue=3, state="discovered", title="before the disk filled"), "found")
    old = (state / "issue-3.yaml").read_bytes()
    _fill(state)
    filler = state / "filler"
    FIGURES.fault("disk-full")
    with pytest.raises(OSError) as raised:
        store.update(3, title="a much longer title " * 400)
    assert "No space" in str(raised.value) or raised.value.errno == 28
    assert (state / "issue-3.yaml").read_bytes() == old
    assert not [p for p in state.iterdir() if p.name.endswith(".tmp")]
    filler.unlink()
    store.update(3, title="after space came back")
    path = state / "issue-3.yaml"
    assert Record.from_yaml(path.read_text(), str(path)).title == "after space came back"


def test_a_restore_a_full_disk_stops_is_said_once_and_done_when_space_is_back(
    tmp_path, mounted, caplog
):
    state = tmp_path / "state"
    mounted("-t", "tmpfs", "-o", "size=512k", "tmpfs", target=state)
    store = Store.open(state)
    for issue in (3, 7):
        store.create(Record(issue=issue, state="discovered"), "found")
        store.transition(issue, "worktree", "ready", branch=f"fix/{issue}")
    (state / "issue-3.yaml").unlink()
    _fill(state)
    FIGURES.fault("disk-full-restore")
    with caplog.at_level("WARNING", logger="controller.store"):
        assert store.restore_deleted() == {}
        assert store.restore_deleted() == {}
    (said,) = [r.getMessage() for r in caplog.records]
    assert said.startswith("#3 deleted state file not restored: ") and "No space" in said
    assert not (state / "issue-3.yaml").exists()
    assert not [p for p in state.iterdir() if p.name.endswith(".tmp")]
    assert store.load(7).branch == "fix/7"

    (state / "filler").unlink()
    assert store.restore_deleted()[3].branch == "fix/3"
    assert store.load(3).state == "worktree"


def test_read_only_state_directory_is_reported(rig, tmp_path, mounted):
    numbers = rig.file_samples((0,))
    proc = rig.start()
    rig.wait_closed(numbers, timeout=120, proc=proc)
    assert rig.stop(proc) == 0
    mounted("--bind", str(rig.state_dir), target=rig.state_dir)
    _mount("-o", "remount,ro,bind", str(rig.state_dir))
    FIGURES.fault("read-only-state")
    rig.log_path.write_text("")
    second = rig.start("run")
    assert second.wait(timeout=60) == 2, rig.log()
    assert "read-only" in rig.log().lower(), rig.log()
    assert "Traceback" not in rig.log(), rig.log()


def test_primary_rate_limit_nearly_spent_slows_down_and_carries_on(rig):
    numbers = rig.file_samples((0,))
    proc = rig.start()
    rig.wait_closed(numbers, timeout=120, proc=proc)

    # Spend the hour's budget down to its last five requests, then file another issue:
    # the controller must stop asking before GitHub refuses it, and keep running.
    limiter = rig.forge.limiter
    with limiter.lock:
        limiter.windows["demo"] = (limiter.limit - 5, int(time.time()) + 3600)
    FIGURES.fault("github-primary-nearly-spent")
    late = rig.file_samples((2,))
    wait_for(
        lambda: "GitHub rate limit" in rig.log(),
        timeout=60,
        interval=0.2,
        message="the controller to notice the rate limit",
    )
    noticed = rig.log().count("GitHub rate limit")
    requests = rig.forge.request_count

    # Passes go on (each hand edit below is recorded by one), over several GitHub poll
    # intervals, and none of them sends GitHub anything or repeats the warning.
    path = rig.state_dir / f"issue-{numbers[0]}.yaml"
    for round_ in range(12):
        seen = rig.log().count("edited by hand")
        text = re.sub(r"(?m)^reason: .*$", f"reason: note {round_}", path.read_text())
        path.write_text(text)
        wait_for(
            lambda seen=seen: rig.log().count("edited by hand") > seen,
            timeout=30,
            interval=0.1,
            message="a pass that records the hand edit",
        )
    assert proc.poll() is None
    assert rig.forge.request_count == requests
    assert limiter.snapshot("demo")["remaining"] >= 1
    assert "rate limit exceeded" not in rig.log()  # GitHub never had to refuse it
    assert rig.log().count("GitHub rate limit") == noticed
    assert late[0] not in rig.states()  # nothing recorded from the reads not made
    assert rig.stop(proc) == 0
