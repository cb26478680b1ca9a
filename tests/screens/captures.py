"""Reading the saved screens of the tests: captures, their labels and pane fields."""

from __future__ import annotations

import csv
import re
import textwrap
from pathlib import Path

from controller.commands_worker import read_meta

PANES = Path(__file__).parent / "fixtures" / "claude-code-2.1.197" / "panes"
_RULE = re.compile(r"^([─╌━]{8,})$")


def labels() -> list[tuple[str, str, str]]:
    with open(PANES / "labels.tsv", encoding="utf-8", newline="") as handle:
        return [
            (row["capture"], row["class"], row["detail"])
            for row in csv.DictReader(handle, delimiter="\t")
        ]


def text(name: str) -> str:
    return (PANES / f"{name}.txt").read_text(encoding="utf-8")


def ansi(name: str) -> str:
    return (PANES / f"{name}.ansi.txt").read_text(encoding="utf-8")


def meta(name: str) -> dict:
    path = PANES / f"{name}.meta"
    return read_meta(path) if path.exists() else {}


def lines(name: str) -> list[str]:
    return text(name).split("\n")


def narrow(screen: str, width: int = 80, height: int = 50) -> str:
    """The screen as a narrow pane would wrap it: rules shortened, long lines folded.

    Right-aligned status text (after a wide gap) moves to a line of its own, and
    continuation lines keep a two-space indent, as the agent's own layout does.
    """
    out: list[str] = []
    for line in screen.split("\n"):
        line = line.rstrip(" ")
        if _RULE.match(line):
            out.append(line[0] * width)
            continue
        if len(line) <= width:
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        hanging = "  " if indent or line.lstrip(" ")[:1] in "❯●✻⎿" else ""
        for i, part in enumerate(re.split(r" {6,}", line.strip(" "))):
            first = " " * indent if i == 0 else "  "
            out.extend(
                textwrap.wrap(
                    part,
                    width,
                    initial_indent=first,
                    subsequent_indent=hanging,
                    break_on_hyphens=False,
                )
                or [""]
            )
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out[-height:])
