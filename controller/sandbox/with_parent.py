"""Become a command that the kernel stops when the process that started it dies.

A demo killed outright (SIGKILL) can run no cleanup, and the controller it started
would run on against a forge that is gone. On Linux a process can ask for a signal
when its parent dies (PR_SET_PDEATHSIG), and the request survives exec. Asking for
it from the demo itself, between fork and exec, would run Python code in a child
forked from a process whose forge threads hold locks; this small program asks for it
in a fresh process instead, then replaces itself with the command:

    python -I -S with_parent.py PARENT_PID -- COMMAND [ARG...]

If the parent is already gone when the request is made, the signal would never come,
so the program checks and gives up. Elsewhere than Linux it only execs.

It runs as a file with the standard library alone, like `controller/exec_env.py`.
"""

from __future__ import annotations

import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _ask_for_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--" or not argv[1].isdigit():
        print("usage: with_parent.py PARENT_PID -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    parent, command = int(argv[1]), argv[3:]
    if not _ask_for_signal():
        print(
            "with_parent: the kernel refused a parent-death signal; the command would "
            "outlive its parent",
            file=sys.stderr,
        )
        return 1
    if os.getppid() != parent:
        return 1  # the parent died before the request: nothing would stop the command
    os.execvp(command[0], command)
    return 1  # not reached: execvp replaces the process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv))
