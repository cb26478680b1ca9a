"""The `controller` command: argument parsing and output, nothing else.

Each area of the controller contributes its subcommands through a `register` function
in its own `commands_*` module, so this file stays a thin table of contents. A command
returns its exit status; errors a person can fix are printed as one clear message,
never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys

from controller import __version__

COMMAND_MODULES = (
    "controller.commands_state",  # status, history, force, graph
    "controller.commands_worker",  # pane classify, peek, attach
    "controller.commands_run",  # init, reconcile, run, doctor, demo
    "controller.sandbox.commands",  # sandbox serve, sandbox model, sandbox agent
)


class UsageError(Exception):
    """A command was asked for something it cannot do; exits with status 2."""


# The controller's own errors, each raised with a message that says what is wrong, where
# and what to do: one line and exit status 2, no traceback. Matched by name so that this
# module imports none of them (`pane classify` must not need tmux, git or GitHub).
# Anything else is a bug and keeps its traceback.
PROJECT_ERRORS = {
    ("controller.config", "ConfigError"): "configuration error: ",
    ("controller.github", "GitHubError"): "GitHub could not be read: ",
    ("controller.store", "StoreError"): "",
    ("controller.sessions", "SessionError"): "",
    ("controller.worktrees", "WorktreeError"): "",
    ("controller.prompts", "PromptError"): "",
    ("controller.launch", "LaunchError"): "",
    ("controller.screens", "ProfileError"): "agent profile: ",
    ("controller.record", "RecordError"): "",
}


def project_error_prefix(error: BaseException) -> str | None:
    """How a project error is introduced, or None for an error that is a bug."""
    if isinstance(error, UsageError):
        return ""
    for cls in type(error).__mro__:
        prefix = PROJECT_ERRORS.get((cls.__module__, cls.__qualname__))
        if prefix is not None:
            return prefix
    return None


def exit_quietly(signum: int, frame: object) -> None:
    """SIGINT before a command runs: nothing has been done, so nothing is left to undo.

    Python would raise KeyboardInterrupt wherever the start-up happens to be (most often
    inside an import) and print its traceback; a person who pressed Ctrl-C wants none.
    """
    os.write(2, b"interrupted\n")
    os._exit(130)


def _set_sigint(handler) -> object:
    """Installs `handler` for SIGINT and returns the one before; main() may run in a thread."""
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: signals are not ours to handle
        return None


def file_name(text: str) -> str:
    """An argparse type: a file or folder name, which an empty string is not."""
    if not text:
        raise argparse.ArgumentTypeError("an empty name names no file; give a path or leave it out")
    return text


def issue_number(text: str) -> int:
    """An argparse type: a GitHub issue number, a whole number from 1 up."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"an issue number is a whole number from 1 up, not {text!r}"
        )
    return int(text)


def positive_seconds(text: str) -> float:
    """An argparse type: a duration in seconds, more than zero."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a number of seconds more than 0, not {text!r}")
    return value


def group_help(parser: argparse.ArgumentParser):
    """The command of a group run without one of its subcommands: its help, exit 2."""

    def show(args) -> int:
        parser.print_help()
        return 2

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controller",
        description="Supervise coding agents working on GitHub issues.",
    )
    parser.add_argument("--version", action="version", version=f"controller {__version__}")
    parser.add_argument(
        "--config",
        type=file_name,
        default=None,
        help="configuration file (default: ./controller.yaml)",
    )
    parser.add_argument(
        "--state-dir",
        type=file_name,
        default=None,
        help="state directory (overrides the configuration)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Until the command runs, Ctrl-C ends the process at once and quietly (the imports
    # of the commands take most of the start-up); the command itself gets Python's
    # KeyboardInterrupt, caught below, or installs handlers of its own.
    before = _set_sigint(exit_quietly)
    try:
        return _main(argv)
    finally:
        if before is not None:
            _set_sigint(before)


class _OneShotFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"controller: {record.levelname.lower()}: {record.getMessage()}"


def _set_up_logging(args) -> None:
    """A long-running command logs what it does, with times; a one-shot command prints
    what it did itself, so only its warnings and errors are logged, as short lines
    (`controller: error: ...`, like the command's own).

    `-v` logs everything, with times, for any command.
    """
    handler = logging.StreamHandler(sys.stderr)
    if args.verbose or getattr(args, "long_running", False):
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        level = logging.DEBUG if args.verbose else logging.INFO
    else:
        handler.setFormatter(_OneShotFormatter())
        level = logging.WARNING
    logging.basicConfig(level=level, handlers=[handler])


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _set_up_logging(args)
    for noisy in ("transitions", "httpx", "httpx2", "httpcore", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        _set_sigint(signal.default_int_handler)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:
        prefix = project_error_prefix(error)
        if prefix is None:
            raise
        print(f"controller: {prefix}{error}", file=sys.stderr)
        return 2
