"""The commands that read and steer the state files: status, history, force, graph.

They work on a state directory a person made by hand as well as on one the controller
keeps. `status`, `history` and `graph` only read: they never create the directory, a
git repository or a file. `force` records one forced transition through the same path
the running controller uses, so the audit trail stays complete.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from pathlib import Path

from controller import config as config_module
from controller import machine
from controller.cli import UsageError, issue_number
from controller.record import Record
from controller.store import InvalidFile, Store, StoreError

log = logging.getLogger(__name__)


DEFAULT_REASON = "forced by hand"


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
    force.add_argument(
        "--reason",
        default=DEFAULT_REASON,
        help=f"why (goes into the history; default {DEFAULT_REASON!r})",
    )
    force.set_defaults(func=cmd_force)

    graph = subparsers.add_parser("graph", help="the state machine as a Mermaid diagram")
    graph.set_defaults(func=cmd_graph)


def state_dir(args) -> Path:
    if getattr(args, "state_dir", None):
        return check_state_dir(Path(args.state_dir), f"--state-dir {args.state_dir}")
    config_path = getattr(args, "config", None) or config_module.DEFAULT_PATH
    path = config_module.load(getattr(args, "config", None)).state_path
    return check_state_dir(path, f"state_dir in {config_path}")


def check_state_dir(path: Path, named_by: str) -> Path:
    """The state directory, refused when a file stands where it or a parent must be.

    Checked before anything is written, so that no command leaves half its work behind
    or gives advice about permissions for what is a wrong path.
    """
    folder = path
    while not os.path.lexists(folder) and folder.parent != folder:
        folder = folder.parent
    if os.path.lexists(folder) and not folder.is_dir():
        where = "it" if folder == path else f"{folder}, on its path,"
        raise UsageError(
            f"{path}: cannot be the state directory: {where} is a file, not a directory; "
            f"it comes from {named_by}: name a directory (one that does not exist yet is "
            "made), or move the file away"
        )
    return path


def _row(issue: int, loaded: Record | InvalidFile, store: Store) -> dict:
    if isinstance(loaded, InvalidFile):
        return {
            "issue": loaded.issue,
            "file": loaded.path,
            "state": None,
            "title": None,
            "since": None,
            "branch": None,
            "session": None,
            "pr": None,
            "ci": None,
            "error": loaded.error,
            "retry_at": None,
            "needs_person": True,
        }
    return {
        "issue": loaded.issue,
        "file": str(store.path(issue)),
        "state": loaded.state,
        "title": loaded.title,
        "since": loaded.since,
        "branch": loaded.branch,
        "session": loaded.session,
        "pr": loaded.pr,
        "ci": loaded.ci,
        "error": loaded.error,
        "retry_at": loaded.retry_at,
        "needs_person": needs_person(loaded),
    }


def needs_person(record: Record) -> bool:
    """An open issue the controller has given up on until a person acts.

    An error with a retry time is one the controller retries by itself (with backoff);
    one without is where it stopped: a spent budget, a dialog, a login, a permission
    prompt. On a closed issue an error is only a note (a worktree kept on close).
    """
    return bool(record.error) and not record.retry_at and record.state != "closed"


_COLUMNS = ("issue", "state", "since", "branch", "session", "pr", "ci", "error", "title")
# The error column shows the start of the message; `status --json` and the file hold all.
_ERROR_WIDTH = 48
# The title column is cut to the terminal's width, or to a fixed width when the output
# goes to a pipe or a file; `status --json` has every title whole.
_MIN_TITLE_WIDTH = 20
_PIPED_TITLE_WIDTH = 80


# What a terminal acts on instead of showing: C0 and C1 controls (escape sequences
# start with one), DEL, and the bidirectional controls that reorder what follows.
# An issue's title is anyone's text, so it is shown with these replaced.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` on one line, with nothing a terminal would act on: safe to print as a cell."""
    return _UNPRINTABLE.sub("\ufffd", " ".join(text.split()))


def _shorten(text: str, width: int) -> str:
    text = printable(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _title_width(used: int) -> int:
    """Room for the title: the rest of a terminal's line, or a fixed cap when piped."""
    if sys.stdout.isatty():
        return max(_MIN_TITLE_WIDTH, shutil.get_terminal_size().columns - used)
    return _PIPED_TITLE_WIDTH


def cmd_status(args) -> int:
    store = Store(state_dir(args))
    try:
        loaded = store.load_all()
    except OSError as error:
        raise UsageError(
            f"{store.state_dir}: cannot be read ({error.strerror}); check that it is the "
            "state directory and that this user may read it"
        ) from None
    rows = [_row(issue, item, store) for issue, item in loaded.items()]
    misnamed = store.misnamed()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        for line in misnamed:
            print(f"ignored: {line}", file=sys.stderr)
        return 0
    if not rows and not store.state_dir.is_dir():
        # A first start makes it; a folder named wrong is more likely said here.
        print(
            f"no state files: {store.state_dir} does not exist (controller init or the first "
            "run makes it; check state_dir or --state-dir if it should)"
        )
        return 0
    if not rows:
        print(f"no state files in {store.state_dir}")
        for line in misnamed:
            print(f"ignored: {line}")
        return 0
    table = [[c.upper() for c in _COLUMNS]]
    problems = []
    for row in rows:
        cells = []
        for column in _COLUMNS:
            value = row[column]
            if column in ("issue", "pr") and value is not None:
                value = f"#{value}"
            if column == "state" and value is None:
                value = "INVALID"
            if column == "error" and value:
                # An invalid file's message starts with its path, said in full below.
                if row["state"] is None and value.startswith(row["file"]):
                    value = value[len(row["file"]) :].lstrip(": ")
                value = _shorten(value, _ERROR_WIDTH)
            cells.append("-" if value in (None, "") else printable(str(value)))
        table.append(cells)
        if row["state"] is None:
            problems.append(row["error"])
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS) - 1)]
    title_width = _title_width(sum(widths) + 2 * len(widths))
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
            + "  "
            + _shorten(line[-1], title_width)
        )
    for problem in problems:
        print(f"invalid: {printable(problem)}")
    for line in misnamed:
        print(f"ignored: {line}")
    waiting = [f"#{row['issue']}" for row in rows if row["needs_person"]]
    if waiting:
        print(
            f"needs a person: {', '.join(waiting)} (the ERROR column and "
            "`controller status --json` say why)"
        )
    return 0


def cmd_history(args) -> int:
    store = Store(state_dir(args))
    entries = store.history(args.issue)
    current = store.load(args.issue)
    if not entries and current is None:
        raise UsageError(f"no state file and no history for #{args.issue} in {store.state_dir}")
    if not entries:
        print(f"#{args.issue} has no recorded transitions yet")
    steps = [
        f"{entry.source} -> {entry.dest}" + (" (forced)" if entry.forced else "")
        for entry in entries
    ]
    width = max(map(len, steps), default=0)
    for entry, step in zip(entries, steps, strict=True):
        print(f"{entry.at}  {step.ljust(width)}  {printable(entry.reason)}".rstrip())
    # The history is the audit trail's; the file as it is now may still need fixing.
    if isinstance(current, InvalidFile):
        print(f"invalid: {printable(current.error)}")
    return 0


def cmd_force(args) -> int:
    if not machine.is_valid_state(args.state):
        raise UsageError(f"unknown state {args.state!r}; valid states: {', '.join(machine.STATES)}")
    store = Store(state_dir(args))
    if store.load(args.issue) is None:
        raise UsageError(
            f"no state file for #{args.issue} in {store.state_dir}; expected "
            f"{store.path(args.issue)}"
        )
    try:
        before = store.load(args.issue)
        # An empty reason would leave the history saying nothing about why.
        record = store.force(args.issue, args.state, args.reason.strip() or DEFAULT_REASON)
    except StoreError as error:
        raise UsageError(str(error)) from None
    source = before.state if isinstance(before, Record) else "?"
    print(f"#{record.issue} {source} -> {record.state} (forced): {record.reason}", file=sys.stdout)
    return 0


def cmd_graph(args) -> int:
    sys.stdout.write(machine.mermaid())
    return 0
