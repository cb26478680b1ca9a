"""Which program really runs in a pane, when tmux can only see a shell.

tmux names a pane's foreground program after the leader of the terminal's foreground
process group. An agent started through a non-interactive shell (`sh -c 'agent; exec
sh'`, `bash -lc 'source env && agent'`) shares the shell's group, so tmux says `sh`
for as long as the agent runs, exactly as it does once the agent is gone and the
shell's prompt is back. The process tree tells the two apart: while the agent lives,
something other than a shell runs below the pane's first process.

The tree is read from /proc where there is one, else from `ps`. It is read only when
tmux reports a shell, which a directly started agent never makes it do, so a healthy
fleet costs nothing here; and a poll reads it at most once (`ProcessTree`), however
many panes show a shell, since one scan of /proc answers for every pane alike.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Collection
from pathlib import Path

log = logging.getLogger(__name__)

_PROC = Path("/proc")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one owned by another user counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def program_name(command: str) -> str:
    """The bare program name: no folder, no login shell's leading dash."""
    return os.path.basename(command.strip()).lstrip("-")


_Tree = tuple[dict[int, str], dict[int, list[int]]]


class ProcessTree:
    """The process tree as one poll sees it: read on first use, then kept.

    Made afresh for each poll and handed to every `agent_command` of that poll, so
    fifty panes showing a shell cost one scan of /proc, not fifty, and a poll where
    no pane shows one costs none. Kept no longer than the poll: a tree goes stale as
    soon as an agent exits.
    """

    def __init__(self) -> None:
        self._tree: _Tree | None = None
        self._read = False

    def get(self) -> _Tree | None:
        """Every live process's name and every process's children, or None if unreadable."""
        if not self._read:
            self._tree = _tree()
            self._read = True
        return self._tree


def agent_command(
    current_command: str, pid: int | None, shells: Collection[str], tree: ProcessTree | None = None
) -> str:
    """What a pane runs, for the screen classifier.

    `current_command` is tmux's `#{pane_current_command}` and `pid` its `#{pane_pid}`.
    When tmux names a shell, the first program below the pane's first process that is
    not a shell (the agent under its wrapper) is the answer; with none, the shell is.
    `tree` is the poll's shared tree; without one, the tree is read for this call.
    """
    if pid is None or program_name(current_command) not in shells:
        return current_command
    return program_below(pid, shells, tree) or current_command


def program_below(pid: int, shells: Collection[str], tree: ProcessTree | None = None) -> str | None:
    """The name of the first live process at or below `pid` that is not a shell.

    Breadth first, so the wrapper's direct child wins over anything the agent started.
    None when only shells run there, or when the tree cannot be read.
    """
    found = (tree if tree is not None else ProcessTree()).get()
    if found is None:
        return None
    names, children = found
    queue = [pid]
    seen = set()
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        name = names.get(current)
        if name is not None and name not in shells:
            return name
        queue.extend(sorted(children.get(current, ())))
    return None


def _tree() -> _Tree | None:
    """Every live process's name and every process's children, or None if unreadable."""
    if (_PROC / "self" / "stat").exists():
        return _tree_from_proc()
    return _tree_from_ps()


def _tree_from_proc() -> _Tree:
    names: dict[int, str] = {}
    children: dict[int, list[int]] = {}
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (_PROC / entry.name / "stat").read_text(errors="replace")
            argv0 = (_PROC / entry.name / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue  # ended while the tree was read
        # "pid (comm) state ppid ...": the name may hold spaces and parentheses.
        comm_part, _, rest = stat.rpartition(")")
        fields = rest.split()
        if len(fields) < 2 or not fields[1].lstrip("-").isdigit():
            continue
        state, parent = fields[0], int(fields[1])
        children.setdefault(parent, []).append(pid)
        if state in ("Z", "X"):
            continue  # a zombie is an agent that is gone
        comm = comm_part.partition("(")[2]
        names[pid] = program_name(argv0.decode(errors="replace") or comm) or comm
    return names, children


def _tree_from_ps() -> _Tree | None:
    try:
        result = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,stat=,comm="],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        log.debug("cannot list processes: %s", error)
        return None
    if result.returncode != 0:
        return None
    names: dict[int, str] = {}
    children: dict[int, list[int]] = {}
    for line in result.stdout.splitlines():
        fields = line.split(None, 3)
        if len(fields) < 4 or not (fields[0].isdigit() and fields[1].isdigit()):
            continue
        pid, parent, state, comm = int(fields[0]), int(fields[1]), fields[2], fields[3]
        children.setdefault(parent, []).append(pid)
        if not state.startswith("Z"):
            names[pid] = program_name(comm)
    return names, children


__all__ = ["ProcessTree", "agent_command", "program_below", "program_name"]
