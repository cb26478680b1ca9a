"""The commands that read and steer the state files: status, history, force, graph.

They work on a state directory a person made by hand as well as on one the controller
keeps. `status`, `history` and `graph` only read: they never create the directory, a
git repository or a file. `force` records one forced transition through the same path
the running controller uses, so the audit trail stays complete.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from controller import config as config_module
from controller import machine
from controller.record import Record
from controller.store import InvalidFile, Store, StoreError

log = logging.getLogger(__name__)


DEFAULT_REASON = "forced by hand"


def issue_number(text: str) -> int:
    """An argparse type: a GitHub issue number, a whole number from 1 up."""
    import argparse

    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"an issue number is a whole number from 1 up, not {text!r}"
        )
    return int(text)


def register(subparsers) -> None:
    status = subparsers.add_parser("status", help="one line per issue the controller tracks")
    status.add_argument("--json", action="store_true", help="print a JSON array instead")
    status.set_defaults(func=cmd_status)

    history = subparsers.add_parser("history", help="the transitions of one issue, oldest first")
    history.add_argument("issue", type=issue_number, metavar="N", help="issue number")
    history.set_defaults(func=cmd_history)

    force = subparsers.add_parser("force", help="move an issue to any state, recorded as forced")
    force.add_argument("issue", type=issue_number, metavar="N", help="issue number")
    force.add_argument("state", metavar="STATE", help="one of: " + ", ".join(machine.STATES))
    force.add_argument("--reason", default=DEFAULT_REASON,
                       help=f"why (goes into the history; default {DEFAULT_REASON!r})")
    force.set_defaults(func=cmd_force)

    graph = subparsers.add_parser("graph", help="the state machine as a Mermaid diagram")
    graph.set_defaults(func=cmd_graph)


def state_dir(args) -> Path:
    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    return config_module.load(getattr(args, "config", None)).state_path


def _usage_error(message: str) -> Exception:
    from controller.cli import UsageError

    return UsageError(message)


def _row(issue: int, loaded: Record | InvalidFile, store: Store) -> dict:
    if isinstance(loaded, InvalidFile):
        return {"issue": loaded.issue, "file": loaded.path, "state": None, "title": None,
                "since": None, "branch": None, "session": None, "pr": None, "ci": None,
                "error": loaded.error}
    return {"issue": loaded.issue, "file": str(store.path(issue)), "state": loaded.state,
            "title": loaded.title, "since": loaded.since, "branch": loaded.branch,
            "session": loaded.session, "pr": loaded.pr, "ci": loaded.ci,
            "error": loaded.error}


_COLUMNS = ("issue", "state", "since", "branch", "session", "pr", "ci", "title")


def cmd_status(args) -> int:
    store = Store(state_dir(args))
    rows = [_row(issue, loaded, store) for issue, loaded in store.load_all().items()]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no state files in {store.state_dir}")
        return 0
    table = [[c.upper() for c in _COLUMNS]]
    problems = []
    for row in rows:
        if row["state"] is None:
            problems.append(row["error"])
            table.append([f"#{row['issue']}", "INVALID"] + ["-"] * (len(_COLUMNS) - 2))
            continue
        cells = []
        for column in _COLUMNS:
            value = row[column]
            if column in ("issue", "pr") and value is not None:
                value = f"#{value}"
            cells.append("-" if value in (None, "") else str(value))
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
              + "  " + line[-1])
    for problem in problems:
        print(f"invalid: {problem}")
    return 0


def cmd_history(args) -> int:
    store = Store(state_dir(args))
    entries = store.history(args.issue)
    if not entries:
        if store.load(args.issue) is None:
            raise _usage_error(
                f"no state file and no history for #{args.issue} in {store.state_dir}"
            )
        print(f"#{args.issue} has no recorded transitions yet")
        return 0
    for entry in entries:
        forced = " (forced)" if entry.forced else ""
        print(f"{entry.at}  {entry.source} -> {entry.dest}{forced}  {entry.reason}")
    return 0


def cmd_force(args) -> int:
    if not machine.is_valid_state(args.state):
        raise _usage_error(
            f"unknown state {args.state!r}; valid states: {', '.join(machine.STATES)}"
        )
    store = Store(state_dir(args))
    if store.load(args.issue) is None:
        raise _usage_error(
            f"no state file for #{args.issue} in {store.state_dir}; expected "
            f"{store.path(args.issue)}"
        )
    try:
        before = store.load(args.issue)
        # An empty reason would leave the history saying nothing about why.
        record = store.force(args.issue, args.state, args.reason.strip() or DEFAULT_REASON)
    except StoreError as error:
        raise _usage_error(str(error)) from None
    source = before.state if isinstance(before, Record) else "?"
    print(f"#{record.issue} {source} -> {record.state} (forced): {record.reason}",
          file=sys.stdout)
    return 0


def cmd_graph(args) -> int:
    sys.stdout.write(machine.mermaid())
    return 0
