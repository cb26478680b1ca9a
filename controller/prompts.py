"""The prompts the agents receive, from Markdown templates a user can edit.

Templates live in the prompts folder (the shipped `prompts/`, or `prompts_dir` in the
configuration) and name their blanks like `{number}` or `{title}`. Values come from
the issue tracker, written by anyone: they are inserted once and never read again as a
template, so a title holding `{body}` or stray braces cannot change the prompt's shape.
Issue text is also cleaned of what a person reading the issue cannot see (HTML comments,
zero-width and direction-changing characters, terminal escapes), because the agent
would read it all the same. It cannot close the frame the template puts around it: a
line of its own that looks like one of the markers loses its dashes. A title stays on
its one line, and text longer than GitHub itself keeps is cut with a note saying where
the rest is.

This module never does I/O beyond reading the template file.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

# The templates the controller renders: the first prompt, the two nudges, a CI failure.
TEMPLATES = ("issue-solver", "nudge-continue", "nudge-finish", "ci-failed")

_BLANK = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad\u061c\u180e]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lone surrogates: what non-UTF-8 bytes in an issue decode to; no terminal can take them.
_SURROGATE = re.compile("[\ud800-\udfff]")
# A line that could pass for the templates' `----- BEGIN ...` / `----- END ...` markers.
_DASHES = "-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"
_MARKER = re.compile(
    rf"^([ \t>]*)[{_DASHES}]{{3,}}(?=[ \t]*(?:BEGIN|END)\b)", re.IGNORECASE | re.MULTILINE
)
_SPACES = re.compile(r"\s+")

# GitHub keeps at most this much of an issue's body or of one comment.
TEXT_LIMIT = 65_536
TITLE_LIMIT = 256


class PromptError(Exception):
    """A template that cannot be filled; the message names the file and what to do."""


def sanitize_issue_text(text: str) -> str:
    """Issue text without what its reader on the web would not see."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _HTML_COMMENT.sub("", text)
    text = _ANSI.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text)


def issue_title(title: str, limit: int = TITLE_LIMIT) -> str:
    """A title (or any one-line value) as one clean line of at most `limit` characters."""
    line = _SPACES.sub(" ", sanitize_issue_text(title)).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "\u2026"
    return line


def issue_text(text: str, *, where: str = "", keep: str = "start", limit: int = TEXT_LIMIT) -> str:
    """Issue text to put between a template's markers: cleaned, unable to forge a marker,
    and cut to `limit` characters, keeping its `start` or its `end`, with a note saying
    the rest is at `where`."""
    text = _MARKER.sub(r"\1(a line like the markers) ", sanitize_issue_text(text))
    if len(text) <= limit:
        return text
    note = f"[cut: the text is {len(text)} characters, longer than the {limit} kept here"
    note += f"; read all of it at {where}]" if where else "]"
    if keep == "end":
        return note + "\n\n" + text[-limit:]
    return text[:limit] + "\n\n" + note


def fill(template: str, values: dict[str, object], *, source: str = "<template>") -> str:
    """`template` with each `{name}` replaced by its value; `{{` and `}}` are braces."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name not in values:
            raise PromptError(
                f"{source}: the blank {{{name}}} has no value (known: "
                f"{', '.join(sorted(values))}); write {{{{{name}}}}} for literal braces"
            )
        return str(values[name])

    return _BLANK.sub(replace, template)


def missing_templates(prompts_dir: Path) -> str | None:
    """What a prompts folder lacks of the shipped templates, said for a person; or None."""
    folder = Path(prompts_dir)
    missing = [f"{name}.md" for name in TEMPLATES if not (folder / f"{name}.md").is_file()]
    if not missing:
        return None
    return (
        f"{prompts_dir} lacks {', '.join(missing)}; copy them there from the shipped "
        "prompts, or point prompts_dir at a folder that has them"
    )


def render(prompts_dir: Path, name: str, **values: object) -> str:
    """The prompt `name` (a file `NAME.md` in `prompts_dir`) filled with `values`."""
    path = Path(prompts_dir) / f"{name}.md"
    try:
        template = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(
            f"{path}: no such prompt template; create it or set prompts_dir to a folder "
            f"holding {name}.md"
        ) from None
    return fill(template, values, source=str(path)).strip() + "\n"


__all__ = [
    "render",
    "fill",
    "sanitize_issue_text",
    "issue_title",
    "issue_text",
    "missing_templates",
    "PromptError",
    "TEMPLATES",
    "TEXT_LIMIT",
    "TITLE_LIMIT",
]
