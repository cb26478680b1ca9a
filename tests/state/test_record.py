"""The record: strict checks with file and line, a small stable YAML form that round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.machine import STATES
from controller.record import (
    FIELD_NAMES,
    MAX_BYTES,
    Record,
    RecordError,
    parse_iso,
    utc_now_iso,
)

PATH = "state/issue-7.yaml"


def test_the_minimal_file_is_two_keys_and_stays_two_keys():
    record = Record.from_yaml("issue: 7\nstate: working\n", PATH)
    assert record == Record(7, "working")
    assert record.to_yaml() == "issue: 7\nstate: working\n"


def test_keys_are_written_in_the_fixed_order():
    record = Record(
        7,
        "pr-open",
        title="t",
        since="2026-12-03T16:00:00Z",
        reason="r",
        forced=True,
        pr=3,
        ci="failure",
        ci_failed=["lint"],
        nudges=2,
        updated="2026-12-03T16:01:00Z",
    )
    keys = [line.split(":")[0] for line in record.to_yaml().splitlines() if ":" in line]
    assert keys == [name for name in FIELD_NAMES if name in keys]
    assert keys[:2] == ["issue", "state"]
    assert "since: 2026-12-03T16:00:00Z\n" in record.to_yaml()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("issue: 7\nstate: wroking\n", 2, "unknown state 'wroking'; valid states: discovered"),
        ("issue: 7\nstate: [\n", 3, "not valid YAML"),
        ("issue: 7\n  state: working\n", 2, "not valid YAML"),
        ("- 7\n- working\n", 1, "must be a mapping"),
        ("", 1, "must be a mapping"),
        ("state: working\n", None, "required key `issue:` is missing"),
        ("issue: 7\n", None, "required key `state:` is missing"),
        ("issue: true\nstate: working\n", 1, "issue must be a whole number; found true"),
        ("issue: '7'\nstate: working\n", 1, "must be a whole number; found the text '7'"),
        ("issue: 0\nstate: working\n", 1, "issue must be a number from 1 to 2147483647; found 0"),
        ("issue: 2147483648\nstate: working\n", 1, "from 1 to 2147483647; found 2147483648"),
        ("issue: 7\nstate: working\nnudges: yes\n", 3, "nudges must be a whole number; found true"),
        ("issue: 7\nstate: working\nnudges: -1\n", 3, "must be zero or more; found -1"),
        ("issue: 7\nstate: working\nforced: 1\n", 3, "forced must be true or false; found 1"),
        ("issue: 7\nstate: working\nci_failed: [1]\n", 3, "check names; found a list"),
        ("issue: 7\nstate: working\nci: green\n", 3, "ci must be one of pending"),
        ("issue: 7\nstate: working\nci_failed: lint\n", 3, "a list of check names"),
        ("issue: 7\nstate: working\nsince: yesterday\n", 3, "like 2026-12-03T16:00:00Z"),
        ("issue: 7\nstate: working\ntitle: [a]\n", 3, "title must be text"),
        ("issue: 7\nstate: working\nreasn: x\n", 3, "did you mean `reason`?"),
        ("issue: 7\nstate: working\nstate: closed\n", 3, "appears twice"),
    ],
)
def test_problems_name_the_file_the_line_and_the_fix(text, line, fragment):
    with pytest.raises(RecordError) as caught:
        Record.from_yaml(text, PATH)
    assert caught.value.line == line
    assert fragment in str(caught.value)
    prefix = f"{PATH} line {line}: " if line else f"{PATH}: "
    assert str(caught.value).startswith(prefix)


def test_the_unknown_state_message_lists_every_state():
    with pytest.raises(RecordError) as caught:
        Record.from_yaml("issue: 7\nstate: wroking\n", PATH)
    assert str(caught.value) == (
        f"{PATH} line 2: unknown state 'wroking'; valid states: " + ", ".join(STATES)
    )


def test_a_file_over_the_size_limit_is_refused():
    text = "issue: 7\nstate: working\ntitle: " + "x" * MAX_BYTES + "\n"
    with pytest.raises(RecordError, match="more than the 65536"):
        Record.from_yaml(text, PATH)


def test_hand_written_values_are_read_kindly():
    record = Record.from_yaml(
        "issue: 7\nstate: working\nsince: 2026-12-03 17:00:00+01:00\nbranch: 1234\n"
        "pr: null\nnudges: null\n",
        PATH,
    )
    assert record.since == "2026-12-03T16:00:00Z"
    assert record.branch == "1234"
    assert record.pr is None and record.nudges == 0


def test_replace_refuses_unknown_fields():
    record = Record(7, "working")
    assert record.replace(nudges=2).nudges == 2
    with pytest.raises(TypeError, match="no field 'nudge'"):
        record.replace(nudge=2)


def test_times_are_utc_iso_seconds():
    assert utc_now_iso(1796313600.7) == "2026-12-03T16:00:00Z"
    assert parse_iso("2026-12-03T16:00:00Z") == 1796313600
    assert parse_iso(utc_now_iso(1796313600)) == 1796313600


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_OPTIONAL_TEXT = st.none() | _TEXT.filter(bool)
_TIME = st.none() | st.integers(0, 4_000_000_000).map(utc_now_iso)
_COUNT = st.integers(0, 10_000)

records = st.builds(
    Record,
    issue=st.integers(1, 10**9),
    state=st.sampled_from(STATES),
    title=_OPTIONAL_TEXT,
    url=_OPTIONAL_TEXT,
    since=_TIME,
    reason=_OPTIONAL_TEXT,
    forced=st.booleans(),
    branch=_OPTIONAL_TEXT,
    session=_OPTIONAL_TEXT,
    pr=st.none() | st.integers(1, 10**6),
    head=_OPTIONAL_TEXT,
    ci=st.sampled_from([None, "pending", "success", "failure"]),
    ci_failed=st.lists(_TEXT, max_size=3),
    nudges=_COUNT,
    spawns=_COUNT,
    ci_failures=_COUNT,
    pane=_OPTIONAL_TEXT,
    pane_since=_TIME,
    error=_OPTIONAL_TEXT,
    retry_at=_TIME,
    attempts=_COUNT,
    updated=_TIME,
)


@settings(max_examples=100, deadline=None)
@given(records)
def test_any_record_round_trips_through_yaml(record):
    assert Record.from_yaml(record.to_yaml(), PATH) == record
