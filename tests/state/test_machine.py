"""The machine: every edge of the table is allowed, nothing else is, and the graph shows it."""

from __future__ import annotations

import itertools

import pytest

from controller import machine
from controller.machine import STATES, TRANSITIONS, InvalidTransition

EDGES = [(source, edge.dest, edge.trigger) for edge in TRANSITIONS for source in edge.sources]
EDGE_PAIRS = {(source, dest) for source, dest, _ in EDGES}


def test_states_are_spelled_as_designed():
    assert STATES == (
        "discovered",
        "worktree",
        "spawned",
        "working",
        "stalled",
        "pr-open",
        "ci-green",
        "closed",
    )


@pytest.mark.parametrize(("source", "dest", "name"), EDGES)
def test_every_listed_edge_is_allowed(source, dest, name):
    assert machine.allowed(source, dest)
    assert machine.trigger(source, dest) == name
    assert dest in machine.next_states(source)
    assert machine.when(source, dest)


@pytest.mark.parametrize(
    ("source", "dest"),
    [
        ("discovered", "working"),
        ("discovered", "pr-open"),
        ("worktree", "working"),
        ("working", "ci-green"),
        ("stalled", "spawned"),
        ("closed", "working"),
        ("closed", "closed"),
        ("ci-green", "discovered"),
        ("pr-open", "spawned"),
    ],
)
def test_a_sample_of_forbidden_edges_is_refused(source, dest):
    assert not machine.allowed(source, dest)
    with pytest.raises(InvalidTransition) as caught:
        machine.trigger(source, dest)
    message = str(caught.value)
    assert f"from {source} to {dest}" in message
    for allowed in machine.next_states(source):
        assert allowed in message


def test_only_the_table_edges_exist():
    for source, dest in itertools.product(STATES, STATES):
        assert machine.allowed(source, dest) == ((source, dest) in EDGE_PAIRS)


def test_the_edges_the_issue_and_the_reconciler_need_are_there():
    required = {
        ("discovered", "worktree"),
        ("worktree", "spawned"),
        ("spawned", "working"),
        ("working", "stalled"),
        ("stalled", "working"),
        ("working", "pr-open"),
        ("stalled", "pr-open"),
        ("pr-open", "ci-green"),
        ("ci-green", "pr-open"),
        ("pr-open", "working"),
        ("spawned", "worktree"),
        ("working", "worktree"),
        ("stalled", "worktree"),
        ("closed", "discovered"),
        ("pr-open", "worktree"),
        ("ci-green", "worktree"),
        ("ci-green", "working"),
        ("spawned", "stalled"),
        ("spawned", "pr-open"),
    }
    required |= {(state, "closed") for state in STATES if state != "closed"}
    assert required == EDGE_PAIRS


def test_unknown_states_are_never_allowed():
    assert not machine.allowed("wroking", "working")
    assert not machine.allowed("working", "wroking")
    assert not machine.is_valid_state("wroking")
    assert not machine.is_valid_state(None)
    with pytest.raises(InvalidTransition, match="valid states: discovered, worktree"):
        machine.trigger("working", "wroking")
    with pytest.raises(InvalidTransition, match="unknown state"):
        machine.next_states("nope")


def test_the_library_has_no_automatic_edges():
    # auto_transitions would add a `to_<state>` trigger from everywhere.
    assert not any(name.startswith("to_") for name in machine._MACHINE.events)


def test_mermaid_graph_is_generated_from_the_table():
    graph = machine.mermaid()
    lines = graph.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    pr_open: pr-open" in lines
    assert "    ci_green: ci-green" in lines
    arrows = [line for line in lines if "-->" in line and "[*]" not in line]
    assert len(arrows) == len(EDGES)
    for source, dest, _ in EDGES:
        edge = next(e for e in TRANSITIONS if e.dest == dest and source in e.sources)
        ids = (source.replace("-", "_"), dest.replace("-", "_"))
        assert f"    {ids[0]} --> {ids[1]}: {edge.when}" in lines
    for line in arrows:
        ends = line.split(":")[0]
        assert "-" not in ends.replace("-->", "")
