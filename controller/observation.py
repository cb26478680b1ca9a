"""One snapshot of the world, as the reconciler saw it at the start of a pass.

The decision function reads only this and the state records, so it can be tested
without GitHub, tmux or git. Every field is plain data; nothing here performs I/O,
and nothing here may hold a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IssueView:
    number: int
    title: str
    url: str
    state: str  # "open" or "closed"
    state_reason: str | None = None
    author: str = ""
    eligible: bool = True
    created_at: str = ""
    updated_at: str = ""


@dataclass(frozen=True)
class PullView:
    number: int
    url: str
    state: str  # "open" or "closed"
    merged: bool
    head_ref: str
    head_sha: str


@dataclass(frozen=True)
class CIView:
    status: str  # "pending", "success" or "failure"
    head_sha: str
    failed: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PaneView:
    """The agent's pane: `reading` is the settled classification, None while unsettled."""

    session: str
    dead: bool = False
    reading: object | None = None  # a screens.Reading
    raw: object | None = None  # the latest unsettled Reading
    frozen_for: float = 0.0  # seconds since the screen's content last changed


@dataclass
class Observation:
    now: float
    github_ok: bool = True
    github_error: str | None = None
    issues: dict[int, IssueView] = field(default_factory=dict)
    pulls: dict[int, PullView] = field(default_factory=dict)
    ci: dict[int, CIView] = field(default_factory=dict)
    panes: dict[int, PaneView] = field(default_factory=dict)
    worktrees: dict[int, str] = field(default_factory=dict)  # issue -> worktree path
    # The branch checked out in an issue's own worktree folder, for a state file that
    # names no branch (written by hand for an issue already at work).
    branches: dict[int, str] = field(default_factory=dict)
    # Issues with a state file that GitHub answered 404 or 410 for.
    missing: frozenset[int] = frozenset()
    # Issues with a state file whose number GitHub gives to a pull request.
    pull_requests: frozenset[int] = frozenset()
    # Issues whose state file is newer than the GitHub read this observation uses (a
    # file written by hand since): GitHub has not said yet whether they exist.
    unread: frozenset[int] = frozenset()
