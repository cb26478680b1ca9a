"""Become a command with exactly the environment written in a file, and delete the file.

An agent's environment holds secrets (the GitHub token, the model API key). Put on a
command line (`env -i K=V agent`), they would be readable by every user of the host in
`ps`, and tmux would keep them for the pane's whole life as its start command. So the
sessions adapter writes the environment to a private file and starts the pane with

    python -I -S exec_env.py FILE -- COMMAND [ARG...]

This program reads FILE (a JSON object of strings), deletes it before anything else can
go wrong, and replaces itself with COMMAND: same process, so tmux sees the agent as the
pane's program, and nothing of the tmux server's environment reaches it.

It runs as a file, not as part of the package, and must import nothing but the standard
library (`-I -S`: no site-packages, no PYTHON* variables, nothing from the working
folder). It must never print an environment value: its screen is read and captured.
"""

from __future__ import annotations

import json
import os
import signal
import sys

# Exit statuses as a shell gives them, so a dead pane reads the same either way.
NOT_FOUND = 127
NOT_RUNNABLE = 126
NO_ENVIRONMENT = 125


def _say(text: str) -> None:
    # The blank line first: to write "Pane is dead" tmux scrolls the screen by one line,
    # which would push a message on the top line out of sight.
    print(f"\ncontroller: {text}", file=sys.stderr, flush=True)


def _read_once(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _environment(text: str) -> dict[str, str] | None:
    try:
        env = json.loads(text)
    except ValueError:
        return None
    if not isinstance(env, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return None
    return env


def _restore_signals() -> None:
    # Python ignores these at start-up, and an ignored signal stays ignored across exec:
    # the agent's `cmd | head` would then fail with EPIPE instead of ending quietly.
    for name in ("SIGPIPE", "SIGXFSZ"):
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, signal.SIG_DFL)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        _say("usage: exec_env.py ENV_FILE -- COMMAND [ARG...]")
        return 2
    path, command = argv[1], argv[3:]

    try:
        text = _read_once(path)
    except OSError as error:
        _say(
            f"cannot read the agent's environment file {path} ({error.strerror}); it is "
            "used once and deleted, so this pane cannot be restarted by hand: let the "
            "controller start the agent again"
        )
        return NO_ENVIRONMENT
    env = _environment(text)
    if env is None:
        _say(
            f"the agent's environment file {path} is not a JSON object of strings; "
            "the controller writes it, so this is a bug there"
        )
        return NO_ENVIRONMENT

    _restore_signals()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        _say(
            f"command not found: {command[0]!r}; check agent.command (or the profile's "
            "command) and the agent's PATH"
        )
        return NOT_FOUND
    except OSError as error:
        _say(f"cannot run {command[0]!r}: {error.strerror}; check that it is an executable program")
        return NOT_RUNNABLE
    except ValueError as error:
        # A NUL in an argument or a variable, or '=' in a variable's name.
        _say(f"cannot run {command[0]!r}: {error}; check agent.command and agent.env")
        return NOT_RUNNABLE
    return 0  # not reached: execvpe replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
