"""How the reconciler records a step's outcome in the store (real files, real git)."""

from __future__ import annotations

from controller import config, screens
from controller.decide import Step
from controller.reconcile import Reconciler
from controller.record import Record
from controller.store import Store


def reconciler(tmp_path) -> Reconciler:
    store = Store.open(tmp_path / "state")
    return Reconciler(config.from_mapping({}), store, None, None, None,
                      screens.load_profile("generic"), settle=False)


def test_a_note_without_a_side_effect_keeps_the_failure_count(tmp_path):
    rec = reconciler(tmp_path)
    rec.store.create(Record(issue=7, state="discovered"), "open issue")
    rec.store.transition(7, "worktree", "ready")
    failing = rec.store.update(7, attempts=3, retry_at="2026-12-03T12:00:00Z")

    noted = rec._record(failing, Step(reason="budget spent", fields={"error": "spent"}), {})
    assert noted.attempts == 3 and noted.error == "spent"

    done = rec._record(noted, Step(reason="sent", action="submit_draft", dest="spawned"), {})
    assert done.state == "spawned" and done.attempts == 0 and done.retry_at is None
