"""The store: atomic writes, audit commits, own writes told apart from hand edits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from controller import record as record_module
from controller.machine import InvalidTransition
from controller.record import Record
from controller.store import (
    ConcurrentEdit,
    InvalidFile,
    InvalidStateFile,
    LockHeld,
    NoStateFile,
    StateFileExists,
    Store,
)
from tests.helpers import git, wait_for
from tests.state.conftest import NOW, commits, new_issue


def test_create_and_transition_write_the_file_and_one_commit_each(store):
    new_issue(store, title="Crash: on start")
    store.transition(7, "worktree", "branch and worktree exist", now=NOW + 5, branch="fix/7")
    record = store.load(7)
    assert record.state == "worktree"
    assert record.since == "2026-12-03T16:00:05Z"
    assert record.reason == "branch and worktree exist"
    assert record.branch == "fix/7" and record.title == "Crash: on start"
    assert commits(store.state_dir) == [
        ("#7 new -> discovered: found on GitHub", ["issue-7.yaml"]),
        ("#7 discovered -> worktree: branch and worktree exist", ["issue-7.yaml"]),
    ]
    assert git(store.state_dir, "status", "--porcelain") == ""


def test_a_forbidden_transition_writes_nothing(store):
    new_issue(store)
    before = store.path(7).read_bytes()
    with pytest.raises(InvalidTransition, match="may go to: worktree, closed"):
        store.transition(7, "working", "skipping ahead")
    with pytest.raises(InvalidTransition, match="unknown state 'wroking'"):
        store.transition(7, "wroking", "typo")
    assert store.path(7).read_bytes() == before
    assert len(commits(store.state_dir)) == 1


def test_create_never_overwrites(store):
    new_issue(store)
    store.transition(7, "worktree", "ready")
    with pytest.raises(StateFileExists):
        new_issue(store)
    assert store.load(7).state == "worktree"


def test_missing_file_is_a_clear_error(store):
    with pytest.raises(NoStateFile, match="no state file for #9"):
        store.transition(9, "worktree", "x")
    assert store.load(9) is None


def test_force_goes_anywhere_and_says_so(store):
    new_issue(store)
    store.force(7, "ci-green", "checked by hand", now=NOW + 1)
    record = store.load(7)
    assert record.state == "ci-green" and record.forced and record.reason == "checked by hand"
    assert commits(store.state_dir)[-1] == (
        "#7 discovered -> ci-green (forced): checked by hand",
        ["issue-7.yaml"],
    )
    store.transition(7, "pr-open", "new head", now=NOW + 2)
    assert store.load(7).forced is False


def test_update_changes_fields_and_commits_only_with_a_note(store):
    new_issue(store)
    store.update(7, pane="idle", pane_since="2026-12-03T16:00:00Z")
    assert len(commits(store.state_dir)) == 1
    store.update(7, nudges=2, note="nudged (2/5)")
    assert commits(store.state_dir)[-1] == ("#7 discovered: nudged (2/5)", ["issue-7.yaml"])
    record = store.load(7)
    assert record.pane == "idle" and record.nudges == 2 and record.state == "discovered"
    with pytest.raises(TypeError):
        store.update(7, state="closed")


def test_history_lists_transitions_oldest_first(store):
    new_issue(store)
    store.transition(7, "worktree", "branch ready", now=NOW + 60)
    store.update(7, spawns=1, note="spawned once")
    store.force(7, "closed", "not needed", now=NOW + 120)
    history = store.history(7)
    assert [(h.source, h.dest, h.at, h.reason, h.forced) for h in history] == [
        ("new", "discovered", "2026-12-03T16:00:00Z", "found on GitHub", False),
        ("discovered", "worktree", "2026-12-03T16:01:00Z", "branch ready", False),
        ("worktree", "closed", "2026-12-03T16:02:00Z", "not needed", True),
    ]
    assert store.history(8) == []


def test_own_writes_are_not_hand_edits_also_after_a_restart(store):
    new_issue(store)
    store.transition(7, "worktree", "ready")
    store.update(7, pane="idle")
    assert store.hand_edits() == []
    assert Store.open(store.state_dir).hand_edits() == []


# -- hand edits ---------------------------------------------------------------------


def test_a_hand_edited_state_is_a_forced_transition(store):
    new_issue(store)
    store.transition(7, "worktree", "ready")
    store.path(7).write_text(store.path(7).read_text().replace("state: worktree", "state: closed"))
    (edit,) = store.hand_edits()
    assert edit.issue == 7 and edit.before.state == "worktree" and edit.after.state == "closed"
    accepted = store.accept(edit, now=NOW + 9)
    assert accepted.forced and accepted.reason == "forced by hand"
    assert accepted.since == "2026-12-03T16:00:09Z"
    assert store.load(7) == accepted
    assert commits(store.state_dir)[-1] == (
        "#7 worktree -> closed (forced): forced by hand",
        ["issue-7.yaml"],
    )
    assert store.hand_edits() == []


def test_a_hand_edit_may_give_its_own_reason(store):
    new_issue(store)
    store.path(7).write_text("issue: 7\nstate: spawned\nreason: restart the agent\n")
    (edit,) = store.hand_edits()
    store.accept(edit)
    assert store.load(7).reason == "restart the agent"
    assert commits(store.state_dir)[-1][0] == "#7 discovered -> spawned (forced): restart the agent"


def test_a_hand_edit_of_other_fields_is_committed_as_written(store):
    new_issue(store)
    store.update(7, nudges=4)
    text = store.path(7).read_text().replace("nudges: 4", "nudges: 0  # give it another go")
    store.path(7).write_text(text)
    (edit,) = store.hand_edits()
    store.accept(edit)
    assert store.path(7).read_text() == text
    assert commits(store.state_dir)[-1] == ("#7 discovered: edited by hand", ["issue-7.yaml"])
    assert store.hand_edits() == []
    store.transition(7, "worktree", "ready")
    assert store.load(7).nudges == 0


def test_a_file_a_person_created_is_a_hand_edit_without_before(store):
    store.path(12).write_text("issue: 12\nstate: working\n")
    (edit,) = store.hand_edits()
    assert edit.before is None and edit.after == Record(12, "working")
    store.accept(edit)
    assert commits(store.state_dir)[-1][0] == "#12 new -> working (forced): forced by hand"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("issue: 7\nstate: [working\n", "line 3: not valid YAML"),
        ("issue: 7\nstate: wroking\n", "line 2: unknown state 'wroking'; valid states:"),
        ("issue: 7\nstate: working\nnudges: many\n", "line 3: nudges must be a whole number"),
        ("issue: 8\nstate: working\n", "says issue: 8 but its name is for issue 7"),
    ],
)
def test_a_broken_file_is_reported_never_repaired_and_resumes_when_fixed(store, text, fragment):
    new_issue(store)
    new_issue(store, 8)
    store.path(7).write_text(text)
    loaded = store.load_all()
    assert isinstance(loaded[7], InvalidFile) and fragment in loaded[7].error
    assert str(store.path(7)) in loaded[7].error
    assert isinstance(loaded[8], Record)
    assert [e.issue for e in store.hand_edits()] == []
    for write in (
        lambda: store.transition(7, "worktree", "x"),
        lambda: store.force(7, "closed"),
        lambda: store.update(7, nudges=1),
    ):
        with pytest.raises(InvalidStateFile, match="leaves #7 alone"):
            write()
    assert store.path(7).read_text() == text
    store.transition(8, "worktree", "others carry on")

    store.path(7).write_text("issue: 7\nstate: working\n")
    (edit,) = store.hand_edits()
    assert edit.before.state == "discovered" and edit.after.state == "working"
    store.accept(edit)
    store.transition(7, "stalled", "idle for 180s")
    assert store.load(7).state == "stalled"


def test_a_symlink_is_not_followed_out_of_the_directory(store, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("issue: 9\nstate: working\n")
    store.path(9).symlink_to(outside)
    loaded = store.load(9)
    assert isinstance(loaded, InvalidFile) and "symbolic link" in loaded.error
    with pytest.raises(InvalidStateFile):
        store.force(9, "closed")
    assert store.path(9).is_symlink() and outside.read_text() == "issue: 9\nstate: working\n"


def test_a_transition_refuses_while_a_hand_edit_waits(store):
    new_issue(store)
    store.path(7).write_text("issue: 7\nstate: closed\n")
    with pytest.raises(ConcurrentEdit, match="edited by hand"):
        store.transition(7, "worktree", "ready")
    assert store.path(7).read_text() == "issue: 7\nstate: closed\n"


def test_an_edit_during_the_write_is_kept_and_reported(store, monkeypatch):
    new_issue(store)
    person = "issue: 7\nstate: closed\nreason: not a bug\n"
    real_fsync = os.fsync
    done = []

    def fsync_then_person_edits(fd):
        real_fsync(fd)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if name.startswith(".issue-7.yaml.") and not done:
            done.append(True)
            store.path(7).write_text(person)

    monkeypatch.setattr(os, "fsync", fsync_then_person_edits)
    with pytest.raises(ConcurrentEdit, match="changed while the controller was writing"):
        store.transition(7, "worktree", "ready")
    monkeypatch.undo()

    assert done and store.path(7).read_text() == person
    assert len(commits(store.state_dir)) == 1
    assert not [p for p in store.state_dir.iterdir() if p.name.endswith(".tmp")]
    (edit,) = store.hand_edits()
    store.accept(edit)
    assert store.load(7).state == "closed" and store.load(7).reason == "not a bug"


def test_accept_refuses_when_the_file_changed_again(store):
    new_issue(store)
    store.path(7).write_text("issue: 7\nstate: working\n")
    (edit,) = store.hand_edits()
    store.path(7).write_text("issue: 7\nstate: stalled\n")
    with pytest.raises(ConcurrentEdit, match="changed again"):
        store.accept(edit)
    assert store.path(7).read_text() == "issue: 7\nstate: stalled\n"


# -- crashes ------------------------------------------------------------------------

_CRASH_BEFORE_RENAME = """
import os, signal, sys
from controller.store import Store
store = Store.open(sys.argv[1])
real_replace = os.replace
def replace(src, dst):
    if str(dst).endswith(".yaml"):
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)
os.replace = replace
store.transition(7, "worktree", "ready")
"""

_CRASH_BEFORE_COMMIT = """
import os, signal, sys
from controller.store import Store
store = Store.open(sys.argv[1])
Store._git_commit = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)
store.transition(7, "worktree", "branch ready", now=1796313660)
"""


def _run_and_get_killed(script: str, state_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-c", script, str(state_dir)], capture_output=True)
    assert result.returncode == -9, result.stderr.decode()


def test_a_crash_before_the_rename_leaves_the_old_file_whole(store):
    new_issue(store)
    old = store.path(7).read_bytes()
    _run_and_get_killed(_CRASH_BEFORE_RENAME, store.state_dir)

    assert store.path(7).read_bytes() == old
    leftovers = [p for p in store.state_dir.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1
    assert list(store.load_all()) == [7] and store.load(7).state == "discovered"
    assert store.hand_edits() == []

    reopened = Store.open(store.state_dir)
    assert not [p for p in store.state_dir.iterdir() if p.name.endswith(".tmp")]
    assert reopened.hand_edits() == []
    reopened.transition(7, "worktree", "ready")
    assert [s for s, _ in commits(store.state_dir)] == [
        "#7 new -> discovered: found on GitHub",
        "#7 discovered -> worktree: ready",
    ]


def test_a_crash_between_the_file_and_the_commit_is_finished_on_restart(store):
    new_issue(store)
    _run_and_get_killed(_CRASH_BEFORE_COMMIT, store.state_dir)
    assert store.load(7).state == "worktree"
    assert len(commits(store.state_dir)) == 1

    reopened = Store.open(store.state_dir)
    assert reopened.hand_edits() == []
    assert commits(store.state_dir)[-1] == (
        "#7 discovered -> worktree: branch ready",
        ["issue-7.yaml"],
    )
    assert reopened.history(7)[-1].at == "2026-12-03T16:01:00Z"
    assert git(store.state_dir, "status", "--porcelain") == ""


def test_a_failing_rename_leaves_no_temporary_file(store, monkeypatch):
    new_issue(store)
    old = store.path(7).read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        store.transition(7, "worktree", "ready")
    monkeypatch.undo()
    assert store.path(7).read_bytes() == old
    assert not [p for p in store.state_dir.iterdir() if p.name.endswith(".tmp")]
    assert store.hand_edits() == []
    store.transition(7, "worktree", "ready")


# -- reading many files -------------------------------------------------------------


def test_loading_reparses_only_changed_files(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir()
    for issue in range(1, 1001):
        (state / f"issue-{issue}.yaml").write_text(f"issue: {issue}\nstate: working\n")
    an_hour_ago = time.time() - 3600
    for path in state.iterdir():
        os.utime(path, (an_hour_ago, an_hour_ago))
    (state / "README.md").write_text("not a state file\n")
    (state / "issue-x.yaml").write_text("ignored: the name is not an issue file\n")
    store = Store(state)
    parsed = []
    real = record_module.Record.from_yaml.__func__

    def counting(cls, text, path):
        parsed.append(path)
        return real(cls, text, path)

    monkeypatch.setattr(record_module.Record, "from_yaml", classmethod(counting))
    assert len(store.load_all()) == 1000 and len(parsed) == 1000

    parsed.clear()
    started = time.perf_counter()
    assert len(store.load_all()) == 1000
    assert parsed == [] and time.perf_counter() - started < 1.0

    (state / "issue-500.yaml").write_text("issue: 500\nstate: stalled\n")
    assert store.load_all()[500].state == "stalled" and len(parsed) == 1
    assert not (state / ".controller").exists(), "reading must not create anything"


# -- the audit trail inside a larger repository -------------------------------------


def test_audit_commits_leave_the_users_staged_changes_alone(tmp_path):
    outer = tmp_path / "project"
    outer.mkdir()
    git(outer, "init", "-q", "-b", "main")
    (outer / "README.md").write_text("one\n")
    (outer / ".gitignore").write_text("*.log\n")  # the state files are tracked here
    git(outer, "add", "README.md", ".gitignore")
    git(outer, "commit", "-q", "-m", "initial")
    (outer / "README.md").write_text("two\n")
    (outer / "notes.txt").write_text("draft\n")
    git(outer, "add", "README.md", "notes.txt")
    (outer / "unstaged.txt").write_text("untracked\n")

    store = Store.open(outer / "state")
    assert not (outer / "state" / ".git").exists()
    new_issue(store)
    store.transition(7, "worktree", "ready")
    store.force(7, "closed", "duplicate")

    audit = commits(outer)[1:]
    assert [files for _, files in audit] == [["state/issue-7.yaml"]] * 3
    assert git(outer, "diff", "--cached", "--name-only").splitlines() == [
        "README.md",
        "notes.txt",
    ]
    assert git(outer, "show", "HEAD:README.md") == "one"
    status = git(outer, "status", "--porcelain").splitlines()
    assert sorted(status) == ["?? unstaged.txt", "A  notes.txt", "M  README.md"]
    assert [h.dest for h in store.history(7)] == ["discovered", "worktree", "closed"]


# -- the single-controller lock -----------------------------------------------------

_HOLD_LOCK = """
import sys
from controller.store import Store
with Store(sys.argv[1]).lock():
    print("held", flush=True)
    sys.stdin.read()
"""


def test_the_lock_names_its_holder(store):
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(store.state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeld, match=f"pid {holder.pid}, running since 20") as held:
            with store.lock():
                pass
        # Just the fact; what to do (stop it, --wait) is for the command to say.
        assert re.fullmatch(
            rf"{re.escape(str(store.state_dir))}: held by another controller "
            rf"\(pid {holder.pid}, running since 20\S+Z\)",
            str(held.value),
        )
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    with store.lock():
        text = (store.sidecar_dir / "lock").read_text()
        assert text.startswith(f"{os.getpid()} ")
    wait_for(lambda: holder.returncode is not None)


def test_a_hand_edit_saved_between_the_listing_and_the_read_is_taken_whole(store, monkeypatch):
    new_issue(store, state="discovered")
    store.transition(7, "worktree", "branch and worktree ready")
    path = store.path(7)
    real_load_all = Store.load_all

    def load_all_then_person_saves(self):
        listed = real_load_all(self)
        if path.read_text().count("state: worktree"):
            path.write_text(path.read_text().replace("state: worktree", "state: closed"))
        return listed

    monkeypatch.setattr(Store, "load_all", load_all_then_person_saves)
    (edit,) = store.hand_edits()
    assert edit.after.state == "closed"
    record = store.accept(edit)
    assert record.state == "closed" and record.forced
    assert commits(store.state_dir)[-1] == (
        "#7 worktree -> closed (forced): forced by hand",
        ["issue-7.yaml"],
    )


def test_a_broken_file_restored_to_the_last_recorded_text_is_no_hand_edit(store):
    new_issue(store)
    recorded = store.path(7).read_text()
    store.path(7).write_text("issue: 7\n[oops\n")
    assert isinstance(store.load(7), InvalidFile)
    store.path(7).write_text(recorded)
    assert store.hand_edits() == []
    store.transition(7, "worktree", "ready")
    assert len(commits(store.state_dir)) == 2


def test_a_hand_edit_back_to_the_committed_text_makes_no_empty_commit(store):
    new_issue(store)
    committed = store.path(7).read_text()
    store.update(7, nudges=3)
    store.path(7).write_text(committed)
    (edit,) = store.hand_edits()
    assert edit.before.nudges == 3 and edit.after.nudges == 0
    store.accept(edit)
    assert len(commits(store.state_dir)) == 1
    assert store.hand_edits() == []
    store.transition(7, "worktree", "ready")
    assert store.load(7).nudges == 0


# -- a deleted file -----------------------------------------------------------------


def test_a_deleted_file_is_restored_as_last_written_also_after_a_restart(store):
    new_issue(store)
    store.transition(7, "worktree", "ready", branch="fix/7")
    store.transition(7, "spawned", "agent started", session="worker-7", spawns=1)
    text = store.path(7).read_text()
    store.path(7).unlink()

    assert Store(store.state_dir).restore_deleted(dry_run=True)[7].state == "spawned"
    assert not store.path(7).exists()  # a dry run writes nothing
    restored = Store.open(store.state_dir).restore_deleted()
    assert restored[7].spawns == 1 and restored[7].session == "worker-7"
    assert store.path(7).read_text() == text
    assert store.hand_edits() == []  # its own write, not a person's
    assert git(store.state_dir, "status", "--porcelain") == ""
    assert store.restore_deleted() == {}  # nothing to do twice


def test_a_file_written_while_its_deleted_one_is_put_back_is_kept_and_others_restored(
    store, caplog
):
    for issue in (3, 7):
        new_issue(store, issue)
        store.transition(issue, "worktree", "ready", branch=f"fix/{issue}")
        store.path(issue).unlink()
    theirs = "issue: 3\nstate: discovered\n# mine\n"
    checked = store._restorable

    def person_writes_meanwhile(issue, key):
        found = checked(issue, key)
        if issue == 3:  # between the check and the write
            store.path(3).write_text(theirs)
        return found

    store._restorable = person_writes_meanwhile
    with caplog.at_level("WARNING", logger="controller.store"):
        restored = store.restore_deleted()
        assert store.restore_deleted() == {}
    assert list(restored) == [7] and restored[7].state == "worktree"
    assert store.load(7).branch == "fix/7"
    assert store.path(3).read_text() == theirs
    assert [r.getMessage() for r in caplog.records] == [
        f"#3 deleted state file not restored: {store.path(3)}: already exists; it was left as it is"
    ]
    (edit,) = store.hand_edits()  # theirs is a hand edit, recorded by the next pass
    assert edit.issue == 3 and edit.after.branch is None


def test_a_deleted_closed_file_is_not_restored_and_a_new_one_may_be_made(store):
    new_issue(store)
    store.force(7, "closed", "done by hand")
    store.path(7).unlink()
    assert store.restore_deleted() == {}
    assert not store.path(7).exists()
    new_issue(store)
    assert store.load(7).state == "discovered"


# -- a forced state is another try ----------------------------------------------------


def test_forcing_a_state_gives_fresh_budgets(store):
    new_issue(store)
    store.transition(7, "worktree", "ready", branch="fix/7")
    store.transition(7, "spawned", "started", spawns=3, attempts=2)
    store.transition(7, "working", "busy")
    store.transition(
        7,
        "stalled",
        "idle",
        nudges=5,
        ci_failures=1,
        error="nudge budget spent (5/5); needs a person",
    )
    forced = store.force(7, "spawned", "try again")
    assert (forced.nudges, forced.spawns, forced.attempts, forced.ci_failures) == (0, 0, 0, 0)
    assert forced.error is None and forced.retry_at is None
    assert forced.branch == "fix/7"  # only the budgets start afresh


def test_a_hand_edited_state_resets_the_budgets_the_person_left_alone(store):
    new_issue(store)
    store.transition(7, "worktree", "ready")
    store.transition(7, "spawned", "started", spawns=3)
    store.transition(7, "working", "busy")
    store.transition(7, "stalled", "idle", nudges=5, error="nudge budget spent; needs a person")
    text = store.path(7).read_text()
    store.path(7).write_text(
        text.replace("state: stalled", "state: spawned").replace("spawns: 3", "spawns: 1")
    )
    (edit,) = store.hand_edits()
    record = store.accept(edit)
    assert record.state == "spawned" and record.forced
    assert record.nudges == 0 and record.error is None
    assert record.spawns == 1  # written by the person: kept


# -- where the audit trail lives ----------------------------------------------------------


def _project(tmp_path, ignore: str) -> Path:
    """A project with a state/ folder of its own, as this one has."""
    project = tmp_path / "project"
    (project / "state").mkdir(parents=True)
    (project / "state" / "README.md").write_text("State files live here.\n")
    git(project, "init", "-q")
    (project / ".gitignore").write_text(ignore)
    git(project, "add", ".gitignore", "state/README.md")
    git(project, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "start")
    return project


def test_a_project_that_ignores_its_state_folder_keeps_its_history_clean(tmp_path):
    project = _project(tmp_path, "/state/*\n!/state/README.md\n")
    store = Store.open(project / "state")
    new_issue(store)
    store.transition(7, "worktree", "ready")
    # The audit trail is a repository of its own; the project's branch is untouched.
    assert git(project, "log", "--format=%s") == "start"
    assert git(project, "status", "--porcelain") == ""
    assert (project / "state" / ".git").is_dir()
    assert [s for s, _ in commits(project / "state")] == [
        "#7 new -> discovered: found on GitHub",
        "#7 discovered -> worktree: ready",
    ]
    assert [e.dest for e in Store.open(project / "state").history(7)] == ["discovered", "worktree"]


def test_a_project_that_tracks_its_state_folder_gets_the_commits(tmp_path):
    project = _project(tmp_path, "")
    store = Store.open(project / "state")
    new_issue(store)
    assert not (project / "state" / ".git").exists()
    assert git(project, "log", "--format=%s").splitlines() == [
        "#7 new -> discovered: found on GitHub",
        "start",
    ]


@pytest.mark.parametrize("how", ["committed before the rule", "added with -f"])
def test_a_project_that_ignores_but_tracks_its_state_files_keeps_the_commits(tmp_path, how):
    project = _project(tmp_path, "")
    if how == "committed before the rule":
        new_issue(Store.open(project / "state"))
        (project / ".gitignore").write_text("/state/*\n!/state/README.md\n")
        git(project, "add", ".gitignore")
    else:
        (project / ".gitignore").write_text("/state/*\n!/state/README.md\n")
        (project / "state" / "issue-7.yaml").write_text("issue: 7\nstate: discovered\n")
        git(project, "add", ".gitignore")
        git(project, "add", "-f", "state/issue-7.yaml")
    git(project, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "ignore")
    before = git(project, "log", "--format=%s").splitlines()

    store = Store.open(project / "state")
    for edit in store.hand_edits():  # the file added with -f was written by a person
        store.accept(edit)  # its text is the committed one: nothing to record
    store.transition(7, "worktree", "ready")
    new_issue(store, issue=8)
    # One audit trail, in the repository that already holds it; nothing left modified.
    assert not (project / "state" / ".git").exists()
    assert git(project, "log", "--format=%s").splitlines() == [
        "#8 new -> discovered: found on GitHub",
        "#7 discovered -> worktree: ready",
        *before,
    ]
    assert git(project, "status", "--porcelain") == ""
    assert [e.dest for e in Store.open(project / "state").history(7)][-1] == "worktree"


def test_a_temporary_index_left_by_a_killed_controller_is_removed_on_start(tmp_path):
    store = Store.open(tmp_path / "state")
    new_issue(store)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no longer runs, as after a SIGKILL
    left = store.sidecar_dir / f"index.{gone.pid}.140000"
    lock = store.sidecar_dir / f"index.{gone.pid}.140000.lock"  # git's, killed with it
    mine = store.sidecar_dir / f"index.{os.getpid()}.140001"  # a live writer's: kept
    left.write_bytes(b"DIRC")
    lock.write_bytes(b"DIRC")
    mine.write_bytes(b"DIRC")
    Store.open(store.state_dir)
    assert not left.exists() and not lock.exists() and mine.exists()
    assert store.load(7).state == "discovered"


def test_a_lock_left_on_this_threads_own_index_does_not_block_its_commits(store):
    # Left by a git whose folder was moved while it ran, or by one killed with an earlier
    # controller that had this pid: only this thread ever uses that index.
    new_issue(store)
    index = store.sidecar_dir / f"index.{os.getpid()}.{threading.get_ident()}"
    Path(f"{index}.lock").write_bytes(b"DIRC")
    store.transition(7, "worktree", "ready")
    assert [e.dest for e in store.history(7)] == ["discovered", "worktree"]
    assert not Path(f"{index}.lock").exists()


def test_a_deleted_file_last_accepted_as_a_person_wrote_it_comes_back_verbatim(store):
    new_issue(store)
    text = store.path(7).read_text() + "# keep an eye on this one\n"
    store.path(7).write_text(text)
    (edit,) = store.hand_edits()
    store.accept(edit)
    store.path(7).unlink()
    assert store.restore_deleted()[7].state == "discovered"
    assert store.path(7).read_text() == text
    assert store.hand_edits() == []
