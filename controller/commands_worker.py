"""`controller pane classify`, `controller peek` and `controller attach`: looking at agents.

`pane classify` reads a saved capture, so a person tuning a profile can check a screen
without any agent or tmux server running. `peek` and `attach` look at a live agent; they
only parse arguments and leave the session handling to `controller.sessions`, which is
imported when one of them runs, so that classifying a file never needs tmux. Nothing
here sends keys to an agent.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from controller import config as config_module
from controller.cli import UsageError, group_help, issue_number
from controller.screens import ProfileError, explain, load_profile

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    pane = subparsers.add_parser("pane", help="read saved agent screens")
    pane.set_defaults(func=group_help(pane))
    pane_commands = pane.add_subparsers(dest="pane_command", metavar="PANE_COMMAND")
    classify = pane_commands.add_parser(
        "classify",
        help="print what a saved capture shows: CLASS or CLASS DETAIL",
        description="Classify a saved `tmux capture-pane -p` of an agent. A sibling "
        "NAME.meta file (pane_dead, pane_current_command, pane_title) is used when present.",
    )
    classify.add_argument("file", help="the capture (capture-pane -p)")
    classify.add_argument(
        "--agent",
        default=None,
        help="profile name or YAML path (default: the configuration's agent.profile)",
    )
    classify.add_argument("--ansi", default=None, help="the same capture taken with -e")
    classify.add_argument(
        "--explain", action="store_true", help="also print which fact or rule decided"
    )
    classify.set_defaults(func=_classify)

    peek = subparsers.add_parser("peek", help="print the current screen of an issue's agent")
    peek.add_argument("number", type=issue_number, metavar="N", help="issue number")
    peek.add_argument(
        "--raw",
        action="store_true",
        help="print the screen as it is: by default anything that looks like a "
        "credential is masked",
    )
    peek.set_defaults(func=_peek)

    attach = subparsers.add_parser("attach", help="attach to an issue's agent session")
    attach.add_argument("number", type=issue_number, metavar="N", help="issue number")
    attach.set_defaults(func=_attach)


def read_meta(path: Path) -> dict:
    """Pane fields saved beside a capture: `dead=0 cmd=claude size=200x50 title=...`."""
    line = path.read_text(encoding="utf-8").strip()
    head, has_title, title = line.partition("title=")
    fields = dict(token.split("=", 1) for token in head.split() if "=" in token)
    meta: dict = {"dead": fields.get("dead", "0") not in ("0", "", "false")}
    if fields.get("cmd"):
        meta["current_command"] = fields["cmd"]
    if has_title:
        meta["title"] = title
    return meta


# A whole screen is a few kilobytes, a capture with all its scrollback rarely a megabyte.
MAX_CAPTURE_BYTES = 4 * 1024 * 1024


def _read(path_text: str, what: str) -> str:
    path = Path(path_text)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_CAPTURE_BYTES:
                raise UsageError(
                    f"{path} is {size} bytes, too big for a {what} (at most "
                    f"{MAX_CAPTURE_BYTES // (1024 * 1024)} MiB); save just the screen with "
                    "`tmux capture-pane -p -t TARGET > FILE`"
                )
            raw = handle.read(MAX_CAPTURE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such {what} file; save one with `tmux capture-pane -p -t TARGET > FILE`"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a {what} file") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read the {what}: {error.strerror}") from None
    if len(raw) > MAX_CAPTURE_BYTES:  # grew while it was read, or not a regular file
        raise UsageError(f"{path}: more than {MAX_CAPTURE_BYTES} bytes, too big for a {what}")
    if not raw:
        raise UsageError(
            f"{path} is empty; a {what} holds the text of a screen "
            "(`tmux capture-pane -p -t TARGET > FILE`)"
        )
    text = raw.decode("utf-8", errors="replace")
    # A screen is text: a NUL byte, or bytes that are mostly not UTF-8, mean another file.
    if b"\0" in raw or text.count("\ufffd") > len(text) // 20:
        raise UsageError(
            f"{path} is not a text capture; give the output of "
            "`tmux capture-pane -p -t TARGET > FILE`"
        )
    return text


def _classify(args) -> int:
    text = _read(args.file, "capture")
    ansi = _read(args.ansi, "-e capture") if args.ansi else None
    name = args.agent or config_module.load(args.config).agent.profile
    try:
        profile = load_profile(name)
    except ProfileError as error:
        raise UsageError(f"bad agent profile: {error}") from None

    capture = Path(args.file)
    meta_path = capture.with_name(capture.name.removesuffix(".txt") + ".meta")
    meta = read_meta(meta_path) if meta_path.exists() else {}
    reading, why = explain(text, profile, ansi=ansi, **meta)
    print(reading)
    if args.explain:
        print(f"profile {profile.name} ({profile.source}): {why}", file=sys.stderr)
    return 0


def _peek(args) -> int:
    from controller import sessions
    from controller.masking import mask

    screen = sessions.peek(config_module.load(args.config), args.number)
    tokens = [os.environ.get("GITHUB_TOKEN"), os.environ.get("GH_TOKEN")]
    # Ends with a newline, so the shell's prompt does not land on the screen's last line.
    print(screen if args.raw else mask(screen, tokens))
    return 0


def _attach(args) -> int:
    from controller import sessions

    return sessions.attach(config_module.load(args.config), args.number)
