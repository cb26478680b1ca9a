"""The states an issue moves through, and the only edges between them.

One table, `TRANSITIONS`, is the single source of truth: the `transitions` library builds
the machine from it, the store asks that machine whether an edge exists, and the Mermaid
graph in the documentation is printed from it. Adding an edge anywhere else would let
the picture and the behaviour drift apart.

This module must never do I/O. A state read from a file is checked with
`is_valid_state` before the machine sees it, because the library would accept an
unknown initial state without complaint.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from transitions import Machine, MachineError

STATES: tuple[str, ...] = (
    "discovered",
    "worktree",
    "spawned",
    "working",
    "stalled",
    "pr-open",
    "ci-green",
    "closed",
)


class Edge(NamedTuple):
    trigger: str
    sources: tuple[str, ...]
    dest: str
    when: str


_ANY_BUT_CLOSED = tuple(state for state in STATES if state != "closed")

TRANSITIONS: tuple[Edge, ...] = (
    Edge("prepare", ("discovered",), "worktree", "branch and worktree exist"),
    Edge(
        "spawn",
        ("worktree",),
        "spawned",
        "the agent session runs and the first prompt was submitted",
    ),
    Edge("start", ("spawned",), "working", "the agent was seen busy"),
    Edge(
        "stall",
        ("working",),
        "stalled",
        "not busy for longer than the stall threshold, or blocked on a prompt",
    ),
    Edge(
        "block",
        ("spawned",),
        "stalled",
        "blocked on a prompt or a login before it was ever seen busy",
    ),
    Edge("resume", ("stalled",), "working", "busy again (after a nudge, or by itself)"),
    Edge(
        "open_pr",
        ("working", "stalled"),
        "pr-open",
        "a pull request from the issue's branch exists",
    ),
    Edge(
        "open_pr_early",
        ("spawned",),
        "pr-open",
        "a pull request appeared before the agent was seen busy",
    ),
    Edge("pass_ci", ("pr-open",), "ci-green", "every check on the PR head succeeded"),
    Edge("new_head", ("ci-green",), "pr-open", "a new head commit, checks pending again"),
    Edge("fail_ci", ("pr-open",), "working", "checks failed and the agent was told"),
    Edge(
        "fail_ci_after_green",
        ("ci-green",),
        "working",
        "checks failed on a new head after being green, and the agent was told",
    ),
    Edge(
        "lose_agent",
        ("spawned", "working", "stalled"),
        "worktree",
        "the agent exited or its session is gone (respawn next)",
    ),
    Edge(
        "lose_agent_with_pr",
        ("pr-open", "ci-green"),
        "worktree",
        "the agent is gone while its pull request is open (respawn next)",
    ),
    Edge("close", _ANY_BUT_CLOSED, "closed", "the issue was closed"),
    Edge("reopen", ("closed",), "discovered", "the issue was reopened"),
)


class InvalidTransition(ValueError):
    """An edge the machine does not have; the message lists where the issue may go."""


def _index_edges() -> dict[tuple[str, str], str]:
    by_pair: dict[tuple[str, str], str] = {}
    for edge in TRANSITIONS:
        for source in edge.sources:
            # Two triggers for one pair would make `trigger()` ambiguous and the graph lie.
            if (source, edge.dest) in by_pair:
                raise AssertionError(f"edge {source} -> {edge.dest} is listed twice")
            by_pair[(source, edge.dest)] = edge.trigger
    return by_pair


_TRIGGER_BY_PAIR = _index_edges()

_MACHINE = Machine(
    model=None,
    states=list(STATES),
    transitions=[
        {"trigger": edge.trigger, "source": list(edge.sources), "dest": edge.dest}
        for edge in TRANSITIONS
    ],
    initial=None,
    auto_transitions=False,
    send_event=False,
)
# add_model/remove_model mutate the machine's model list.
_MACHINE_LOCK = threading.Lock()


class _Probe:
    """A throwaway model: the machine moves it along one edge to prove the edge exists."""

    state: str


def is_valid_state(name: object) -> bool:
    return isinstance(name, str) and name in STATES


def _check_state(name: str) -> None:
    if not is_valid_state(name):
        raise InvalidTransition(f"unknown state {name!r}; valid states: {', '.join(STATES)}")


def allowed(source: str, dest: str) -> bool:
    if not (is_valid_state(source) and is_valid_state(dest)):
        return False
    name = _TRIGGER_BY_PAIR.get((source, dest))
    if name is None:
        return False
    probe = _Probe()
    with _MACHINE_LOCK:
        _MACHINE.add_model(probe, initial=source)
        try:
            probe.trigger(name)
        except MachineError:
            return False
        finally:
            _MACHINE.remove_model(probe)
    return probe.state == dest


def next_states(source: str) -> list[str]:
    _check_state(source)
    return [dest for dest in STATES if (source, dest) in _TRIGGER_BY_PAIR]


def trigger(source: str, dest: str) -> str:
    """The name of the trigger that moves an issue from `source` to `dest`."""
    _check_state(source)
    _check_state(dest)
    if not allowed(source, dest):
        options = ", ".join(next_states(source)) or "none"
        raise InvalidTransition(
            f"no transition from {source} to {dest}; from {source} an issue may go to: "
            f"{options} (use `controller force` to move it anyway)"
        )
    return _TRIGGER_BY_PAIR[(source, dest)]


def when(source: str, dest: str) -> str:
    """The condition, in words, under which the reconciler takes this edge."""
    name = trigger(source, dest)
    return next(e.when for e in TRANSITIONS if e.trigger == name and e.dest == dest)


def _mermaid_id(state: str) -> str:
    return state.replace("-", "_")


def mermaid() -> str:
    lines = ["stateDiagram-v2"]
    for state in STATES:
        if _mermaid_id(state) != state:
            lines.append(f"    {_mermaid_id(state)}: {state}")
    lines.append(f"    [*] --> {_mermaid_id(STATES[0])}")
    for edge in TRANSITIONS:
        for source in edge.sources:
            # A colon would end the label early in Mermaid.
            label = edge.when.replace(":", " -")
            lines.append(f"    {_mermaid_id(source)} --> {_mermaid_id(edge.dest)}: {label}")
    return "\n".join(lines) + "\n"


__all__ = [
    "STATES",
    "TRANSITIONS",
    "Edge",
    "InvalidTransition",
    "allowed",
    "is_valid_state",
    "mermaid",
    "next_states",
    "trigger",
    "when",
]
