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
import sys

from controller import __version__
from controller.config import ConfigError

COMMAND_MODULES = (
    "controller.commands_state",  # status, history, force, graph
    "controller.commands_worker",  # pane classify, peek, attach
    "controller.commands_run",  # init, reconcile, run, doctor, demo
    "controller.sandbox.commands",  # sandbox serve, sandbox model, sandbox agent
)


class UsageError(Exception):
    """A command was asked for something it cannot do; exits with status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controller",
        description="Supervise coding agents working on GitHub issues.",
    )
    parser.add_argument("--version", action="version", version=f"controller {__version__}")
    parser.add_argument(
        "--config", default=None, help="configuration file (default: ./controller.yaml)"
    )
    parser.add_argument(
        "--state-dir", default=None, help="state directory (overrides the configuration)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("transitions", "httpx", "httpx2", "httpcore", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"controller: configuration error: {error}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"controller: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        from controller.github import GitHubError
        from controller.store import StoreError

        if isinstance(error, GitHubError):
            print(f"controller: GitHub could not be read: {error}", file=sys.stderr)
            return 2
        if isinstance(error, StoreError):
            print(f"controller: {error}", file=sys.stderr)
            return 2
        raise
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
