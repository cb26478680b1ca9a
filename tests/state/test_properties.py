"""Random sequences of transitions, forces, updates and hand edits keep every promise.

Whatever happens, each file is either valid or exactly what a person wrote; every
commit touches exactly one file; each transition is exactly one commit, and a force or an
accepted hand edit is one commit unless the file ends up as it was last committed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from controller import machine
from controller.machine import STATES, InvalidTransition
from controller.record import Record
from controller.store import InvalidFile, InvalidStateFile, Store
from tests.state.conftest import commits

ISSUES = (7, 8)
_issue = st.sampled_from(ISSUES)
_state = st.sampled_from(STATES)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("transition"), _issue, _state),
        st.tuples(st.just("force"), _issue, _state),
        st.tuples(st.just("update"), _issue, st.integers(0, 9)),
        st.tuples(st.just("hand_state"), _issue, _state),
        st.tuples(st.just("hand_break"), _issue, st.sampled_from(["[oops", "state: wroking"])),
    ),
    max_size=10,
)


def _check(store: Store, broken: dict[int, str], expected_commits: int) -> None:
    loaded = store.load_all()
    assert set(loaded) == set(ISSUES)
    for issue, value in loaded.items():
        if issue in broken:
            assert isinstance(value, InvalidFile)
            assert store.path(issue).read_text() == broken[issue]
        else:
            assert isinstance(value, Record) and machine.is_valid_state(value.state)
    history = commits(store.state_dir)
    assert len(history) == expected_commits
    assert all(len(files) == 1 for _, files in history)


@settings(max_examples=25, deadline=None)
@given(steps)
# A broken file restored to exactly what the store last recorded: nothing changed.
@example(
    [("hand_state", 7, "discovered"), ("hand_break", 7, "[oops"), ("hand_state", 7, "discovered")]
)
# A hand edit back to the last committed text after an (uncommitted) update.
@example([("hand_state", 7, "discovered"), ("update", 7, 3), ("hand_state", 7, "discovered")])
def test_random_sequences_never_tear_a_file_or_touch_another(sequence):
    with tempfile.TemporaryDirectory() as folder:
        store = Store.open(Path(folder) / "state")
        for issue in ISSUES:
            store.create(Record(issue, "discovered"), "found")
        expected = len(ISSUES)
        broken: dict[int, str] = {}
        # The text the store last wrote or recorded for each issue (what it knows as its
        # own), and the text of the issue's last commit.
        recorded = {issue: store.path(issue).read_text() for issue in ISSUES}
        committed = dict(recorded)

        for action, issue, argument in sequence:
            before = commits(store.state_dir)
            expected_before = expected
            if action == "hand_break":
                text = f"issue: {issue}\n{argument}\n"
                store.path(issue).write_text(text)
                broken[issue] = text
            elif action == "hand_state":
                text = f"issue: {issue}\nstate: {argument}\n"
                # Compared with what the store last recorded, not with the file as it is:
                # a broken file restored to exactly that text changed nothing.
                unchanged = recorded[issue] == text
                store.path(issue).write_text(text)
                broken.pop(issue, None)
                edits = {edit.issue: edit for edit in store.hand_edits()}
                if unchanged:
                    # The same text as the controller last recorded is no edit at all.
                    assert edits == {}
                else:
                    assert set(edits) == {issue}
                    store.accept(edits[issue])
                    # Back to the text of the last commit (an update in between is not
                    # committed): nothing to commit, and no empty commit.
                    expected += store.path(issue).read_text() != committed[issue]
            elif issue in broken:
                try:
                    if action == "update":
                        store.update(issue, nudges=argument)
                    else:
                        getattr(store, action)(issue, argument, "random")
                except InvalidStateFile:
                    pass
                else:
                    raise AssertionError("a write went through on a broken file")
            elif action == "transition":
                current = store.load(issue).state
                if machine.allowed(current, argument):
                    store.transition(issue, argument, "random")
                    expected += 1
                else:
                    try:
                        store.transition(issue, argument, "random")
                    except InvalidTransition:
                        pass
                    else:
                        raise AssertionError(f"{current} -> {argument} went through")
            elif action == "force":
                store.force(issue, argument, "random")
                # Forcing the same state twice within a second writes the same text as the
                # last commit, and an unchanged file gets no (empty) commit.
                expected += store.path(issue).read_text() != committed[issue]
            else:
                store.update(issue, nudges=argument)

            if issue not in broken:
                recorded[issue] = store.path(issue).read_text()
                if expected > expected_before:
                    committed[issue] = recorded[issue]

            _check(store, broken, expected)
            new = commits(store.state_dir)[len(before) :]
            assert all(files == [f"issue-{issue}.yaml"] for _, files in new)

        assert [e.issue for e in store.hand_edits()] == []
