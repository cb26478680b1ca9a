"""Where a secret could be read by someone who is not the agent: command lines, tmux."""

from __future__ import annotations

import subprocess
from collections.abc import Collection
from pathlib import Path


def _parent(pid: str) -> str | None:
    try:
        stat = (Path("/proc") / pid / "stat").read_text()
    except OSError:
        return None
    # The name in parentheses may hold spaces; the parent's pid follows the state.
    return stat.rsplit(")", 1)[1].split()[1]


def _below(pid: str, roots: set[str]) -> bool:
    seen = set()
    while pid and pid not in seen:
        if pid in roots:
            return True
        seen.add(pid)
        pid = _parent(pid) or ""
    return False


def command_lines_holding(needle: str, below: Collection[int] | None = None) -> list[str]:
    """Every process whose argument list holds `needle`, as `pid: [args]`.

    With `below`, only those processes and their descendants count: other test runs on
    the same host may use the same sandbox token.
    """
    roots = {str(pid) for pid in below} if below is not None else None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if needle.encode() in argv and (roots is None or _below(entry.name, roots)):
            found.append(f"{entry.name}: {argv.split(bytes(1))!r}")
    return found


def tmux_server_pid(socket: str) -> int | None:
    shown = subprocess.run(
        ["tmux", "-L", socket, "display-message", "-p", "#{pid}"], capture_output=True, text=True
    ).stdout.strip()
    return int(shown) if shown.isdigit() else None


def tmux_shows(socket: str) -> str:
    """Each pane's start command and every environment the tmux server keeps."""

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, errors="backslashreplace"
        ).stdout

    shown = [
        tmux("list-panes", "-a", "-F", "#{pane_start_command}"),
        tmux("show-environment", "-g"),
    ]
    for name in tmux("list-sessions", "-F", "#{session_name}").split():
        shown.append(tmux("show-environment", "-t", f"={name}"))
    return "\n".join(shown)
