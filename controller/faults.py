"""Named points where a test may kill the controller, to prove a crash anywhere is harmless.

The reliability suite sets `CONTROLLER_CRASH_AT` to a comma-separated list of point
names (for example `after-worktree`) and starts a real controller; at that point the
process sends itself SIGKILL, exactly as an out-of-memory kill or a power cut would.
With the variable unset (always, outside tests) a crash point costs one set lookup.
"""

from __future__ import annotations

import os
import signal

POINTS = (
    "after-branch",  # the branch exists, its worktree does not
    "after-worktree",  # the branch and worktree exist, the transition is not recorded
    "after-session",  # the agent's session runs, no prompt was sent
    "after-prompt",  # the prompt was submitted, the transition is not recorded
    "after-cleanup",  # the agent was stopped and the worktree removed, `closed` not recorded
    "before-commit",  # the state file was written, its audit commit not made
)

_ARMED = frozenset(filter(None, os.environ.get("CONTROLLER_CRASH_AT", "").split(",")))


def crash_point(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
