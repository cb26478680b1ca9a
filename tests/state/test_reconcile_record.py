"""How the reconciler records a step's outcome in the store (real files, real git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller import config, screens
from controller.commands_state import needs_person
from controller.decide import Step
from controller.observation import Observation
from controller.reconcile import ActionFailed, PassReport, Reconciler
from controller.record import Record
from controller.store import Store


def reconciler(tmp_path) -> Reconciler:
    store = Store.open(tmp_path / "state")
    return Reconciler(
        config.from_mapping({}),
        store,
        None,
        None,
        None,
        screens.load_profile("generic"),
        settle=False,
    )


def test_a_note_without_a_side_effect_keeps_the_failure_count(tmp_path):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    rec.store.transition(7, "worktree", "ready")
    failing = rec.store.update(7, attempts=3, retry_at="2026-12-03T12:00:00Z")

    noted = rec._record(failing, Step(reason="budget spent", fields={"error": "spent"}), {})
    assert noted.attempts == 3 and noted.error == "spent"

    done = rec._record(noted, Step(reason="sent", action="submit_draft", dest="spawned"), {})
    assert done.state == "spawned" and done.attempts == 0 and done.retry_at is None


@pytest.mark.parametrize(
    ("action", "why"),
    [
        ("nudge", "the prompt was not submitted"),
        ("ensure_worktree", "git worktree add: could not lock config file"),
    ],
)
def test_a_retried_step_that_succeeds_clears_its_error(tmp_path, action, why):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    record = rec.store.load(7)
    step = Step(reason="branch and worktree ready", action="ensure_worktree", dest="worktree")
    if action == "nudge":
        rec.store.transition(7, "worktree", "ready")
        rec.store.transition(7, "spawned", "started", spawns=1)
        record = rec.store.transition(7, "stalled", "idle for 180s")
        step = Step(reason="nudged (1/5)", action="nudge", fields={"nudges": 1})
    rec._record_failure(record, step, ActionFailed(why), PassReport())
    failed = rec.store.load(7)
    named = {"nudge": "nudge", "ensure_worktree": "worktree"}[action]
    assert (failed.error, failed.attempts) == (f"{named} failed: {why}", 1)
    assert failed.retry_at is not None and not needs_person(failed)

    done = rec._record(failed, step, {})
    assert (done.error, done.retry_at, done.attempts) == (None, None, 0)
    assert rec.store.load(7) == done
    assert not needs_person(done)


def test_a_retried_step_that_succeeds_keeps_an_error_of_its_own(tmp_path):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    failed = rec.store.update(
        7, error="comment failed: 502", attempts=1, retry_at="2026-12-03T12:00:00Z"
    )
    message = "checks failed 4 times (limit 3); left for a person"
    done = rec._record(
        failed, Step(reason=message, action="comment", fields={"error": message}), {}
    )
    assert (done.error, done.retry_at, done.attempts) == (message, None, 0)
    assert needs_person(done)


def test_giving_up_is_logged_and_is_one_commit_in_the_audit_trail(tmp_path, caplog):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    record = rec.store.transition(7, "worktree", "ready")
    message = "respawn budget spent (0 started, 3 failed to start, limit 3); needs a person"
    with caplog.at_level("WARNING", logger="controller.reconcile"):
        rec._record(record, Step(reason=message, fields={"error": message, "retry_at": None}), {})
    assert f"#7 worktree: {message}" in caplog.text
    assert rec.store.history(7)[-1].dest == "worktree"
    log = git_log(rec.store.state_dir)
    assert log[0] == f"#7 worktree: {message}"
    assert git_status(rec.store.state_dir) == ""


def test_cleaning_up_a_closed_issue_leaves_the_audit_repository_clean(tmp_path):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    rec.store.transition(7, "worktree", "ready", worktree="/w/7", session="worker-7")
    record = rec.store.force(7, "closed", "done by hand")
    rec._record(
        record,
        Step(reason="agent stopped, worktree removed", action="cleanup"),
        {"session": None, "pane": None, "pane_since": None, "worktree": None},
    )
    assert git_status(rec.store.state_dir) == ""
    assert git_log(rec.store.state_dir)[0] == "#7 closed: agent stopped, worktree removed"


def git_log(folder) -> list[str]:
    return subprocess.run(
        ["git", "log", "--format=%s"], cwd=folder, capture_output=True, text=True
    ).stdout.splitlines()


def git_status(folder) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--", "."], cwd=folder, capture_output=True, text=True
    ).stdout.strip()


class _Removal:
    """What the worktrees adapter answered (its own tests run real git)."""

    def __init__(self, worktree_removed: bool, kept_reason: str):
        self.worktree_removed, self.kept_reason = worktree_removed, kept_reason


class _Worktrees:
    def __init__(self, result):
        self.result = result

    def remove(self, number, branch):
        return self.result

    def path_for(self, number):
        return Path("/nonexistent/worktrees") / f"issue-{number}"


def test_a_kept_branch_is_not_called_a_kept_worktree(tmp_path):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    observed = Observation(now=0)
    rec.worktrees = _Worktrees(_Removal(True, "branch fix/7 has 1 commit not on origin"))
    assert rec._remove_worktree(7, observed)["error"].startswith("branch kept: ")
    rec.worktrees = _Worktrees(_Removal(False, "/w/7 has uncommitted changes"))
    assert rec._remove_worktree(7, observed)["error"].startswith("worktree kept: ")
