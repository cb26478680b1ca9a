"""Reading an agent's terminal: what is it doing right now, and is that settled?

A controller that types into a coding agent's terminal has to know, from the screen
alone, whether the agent is working, waiting with an empty input box, holding unsent
text, asking for a permission, showing some other menu, asking for a login, or gone.
Getting this wrong is expensive: an Enter pressed into the wrong menu accepts things
nobody meant to accept, and a busy agent mistaken for an idle one gets nudged mid-work.

So the screen is never judged by one string on its last line. The engine first uses
what tmux knows (the pane is dead, a shell is in the foreground, the title), then cuts
the visible screen into regions (the live input box, what sits below it, the current
turn above it, the dialog that replaced the box) and matches the profile's rules only
against the region each rule names. Text an agent prints in its answers therefore never
looks like a menu or a footer.

Everything that depends on one agent CLI lives in its profile (YAML, see
`controller/profiles/`); this module is the generic engine, so a profile for another CLI
needs no code. It never imports tmux or any other adapter and does no I/O beyond
reading profile files: it works on captured text and a few pane fields.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from controller.config import env_problem
from controller.files import FileProblem, read_small, yaml_problem

log = logging.getLogger(__name__)

CLASSES = ("busy", "idle", "draft", "permission", "dialog", "login", "exited")
REGIONS = ("screen", "tail", "last_line", "turn", "turn_end", "box", "below", "dialog")
CONDITIONS = ("box", "no_box", "empty_box")
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"

# tmux's own line under a dead pane (remain-on-exit); true of every agent.
_PANE_DEAD = re.compile(r"^Pane is dead \(status (\d+)")
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
_OTHER_ESCAPE = re.compile(r"\x1b(?:\[[0-9;:?]*[A-Za-z]|\][^\x07\x1b]*(?:\x07|\x1b\\)|.)")
_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_WHEN = re.compile(
    r"(?:(?P<month>[A-Za-z]{3})[a-z]*\.?\s+(?P<day>\d{1,2}),?\s+(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<half>am|pm)?",
    re.IGNORECASE,
)


class ProfileError(Exception):
    """A profile that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Reading:
    """What a pane shows: one of CLASSES, refined by an optional detail."""

    cls: str
    detail: str | None = None
    # When a usage limit lifts (seconds since the epoch), read off the screen.
    reset_at: float | None = None
    # The live input box's text: "" when empty, None when no box is visible.
    input_text: str | None = None

    def __str__(self) -> str:
        return f"{self.cls} {self.detail}" if self.detail else self.cls


@dataclass(frozen=True)
class Rule:
    cls: str
    region: str
    pattern: re.Pattern[str]
    detail: str | None = None
    when: str | None = None

    def describe(self) -> str:
        when = f" when {self.when}" if self.when else ""
        return f"{self.cls} {self.detail or ''} <- {self.region}{when}: /{self.pattern.pattern}/"


@dataclass(frozen=True)
class Profile:
    """One agent CLI: how to launch it, which keys answer it, how to read its screen."""

    name: str
    command: list[str]
    resume_command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    pass_env: list[str] = field(default_factory=list)
    setup: str | None = None
    ready_timeout_s: float = 30.0
    keys: dict[str, str] = field(default_factory=dict)
    dialog_keys: dict[str, list[str]] = field(default_factory=dict)
    permission_accept_keys: list[str] = field(default_factory=list)
    # Foreground commands that mean the agent is gone (a shell took the pane back).
    exited_commands: list[str] = field(default_factory=list)
    busy_title: re.Pattern[str] | None = None
    input_line: re.Pattern[str] | None = None
    input_continuation: re.Pattern[str] | None = None
    rule_line: re.Pattern[str] | None = None
    prompt_line: re.Pattern[str] | None = None
    placeholder_dim: bool = False
    placeholders: tuple[re.Pattern[str], ...] = ()
    usage_reset: re.Pattern[str] | None = None
    tail_lines: int = 12
    rules: tuple[Rule, ...] = ()
    fallback: Reading = Reading("busy", "unrecognized")
    source: str = ""


# --- loading profiles -------------------------------------------------------------------

_TOP_KEYS = {
    "name",
    "extends",
    "description",
    "command",
    "resume_command",
    "env",
    "pass_env",
    "setup",
    "ready_timeout_s",
    "keys",
    "dialog_keys",
    "permission_accept_keys",
    "exited_commands",
    "busy_title",
    "screen",
    "rules",
    "extra_rules",
    "fallback",
}
_SCREEN_KEYS = {
    "input_line",
    "input_continuation",
    "rule",
    "prompt_line",
    "placeholder_dim",
    "placeholders",
    "usage_reset",
    "tail_lines",
}
_MERGED = ("env", "keys", "dialog_keys", "screen")
_cache: dict[tuple[str, int], Profile] = {}


def _resolve(name_or_path: str, relative_to: Path | None = None) -> Path:
    candidate = Path(name_or_path).expanduser()
    looks_like_path = os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml"))
    if looks_like_path:
        if not candidate.is_absolute() and relative_to is not None:
            candidate = relative_to / candidate
        return candidate
    if relative_to is not None and (relative_to / f"{name_or_path}.yaml").exists():
        return relative_to / f"{name_or_path}.yaml"
    return PROFILES_DIR / f"{name_or_path}.yaml"


def _read_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The profile's keys with its `extends` parents merged in (the child wins)."""
    if path in chain:
        raise ProfileError(f"{path}: `extends` loops back to itself")
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise ProfileError(f"{path}: no such profile; built-in profiles: {known}")
    text = ""
    try:
        text = read_small(path, what="profile").decode("utf-8")
        data = yaml.safe_load(text)
    except FileProblem as error:
        raise ProfileError(str(error)) from None
    except yaml.YAMLError as error:
        line, problem = yaml_problem(error, text)
        where = f" line {line}:" if line is not None else ""
        raise ProfileError(f"{path}:{where} not valid YAML: {problem}") from None
    except IsADirectoryError:
        raise ProfileError(f"{path}: is a directory, not a profile; name its YAML file") from None
    except UnicodeDecodeError as error:
        raise ProfileError(
            f"{path}: is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise ProfileError(f"{path}: cannot be read ({error.strerror})") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile must be a mapping of keys to values")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ProfileError(
            f"{path}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_TOP_KEYS))}"
        )
    parent_name = data.pop("extends", None)
    if parent_name is None:
        data.setdefault("name", path.stem)
        return data
    if not isinstance(parent_name, str):
        raise ProfileError(f"{path}: extends must be a profile name or path")
    parent_path = _resolve(parent_name, path.parent)
    if not parent_path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise ProfileError(
            f"{path}: extends {parent_name!r}, but there is no such profile "
            f"(looked for {parent_path}); built-in profiles: {known}"
        )
    parent = _read_raw(parent_path, (*chain, path))
    merged = {**parent, **data}
    for key in _MERGED:
        if isinstance(parent.get(key), dict) and isinstance(data.get(key), dict):
            merged[key] = {**parent[key], **data[key]}
    merged["name"] = data.get("name", path.stem)
    return merged


def _compile(path: Path, where: str, value: Any) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileError(f"{path}: {where} must be a regular expression string")
    try:
        return re.compile(value, re.MULTILINE)
    except re.error as error:
        raise ProfileError(f"{path}: {where} is not a valid regular expression: {error}") from None


def _strings(path: Path, where: str, value: Any, default: Any = None) -> Any:
    if value is None:
        return default
    if isinstance(value, str) and where.endswith("command"):
        return value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{path}: {where} must be a list of strings")
    return list(value)


def _mapping(path: Path, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProfileError(f"{path}: {where} must be a mapping")
    return dict(value)


def _rule(path: Path, where: str, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise ProfileError(f"{path}: {where} must be a mapping with class, region, pattern")
    unknown = sorted(set(raw) - {"class", "detail", "region", "pattern", "when"})
    if unknown:
        raise ProfileError(f"{path}: {where} has unknown key {unknown[0]!r}")
    cls, region, when = raw.get("class"), raw.get("region", "screen"), raw.get("when")
    if cls not in CLASSES:
        raise ProfileError(f"{path}: {where}.class must be one of {', '.join(CLASSES)}")
    if region not in REGIONS:
        raise ProfileError(f"{path}: {where}.region must be one of {', '.join(REGIONS)}")
    if when is not None and when not in CONDITIONS:
        raise ProfileError(f"{path}: {where}.when must be one of {', '.join(CONDITIONS)}")
    pattern = _compile(path, f"{where}.pattern", raw.get("pattern"))
    if pattern is None:
        raise ProfileError(f"{path}: {where} needs a pattern")
    detail = raw.get("detail")
    return Rule(cls, region, pattern, str(detail) if detail is not None else None, when)


def _build(path: Path, data: dict[str, Any]) -> Profile:
    screen = _mapping(path, "screen", data.get("screen"))
    unknown = sorted(set(screen) - _SCREEN_KEYS)
    if unknown:
        raise ProfileError(
            f"{path}: unknown key screen.{unknown[0]}; known: {', '.join(sorted(_SCREEN_KEYS))}"
        )
    rules = [
        _rule(path, f"{name}[{i}]", raw)
        for name in ("extra_rules", "rules")
        for i, raw in enumerate(data.get(name) or [])
    ]
    dialog_keys = {
        str(k): _strings(path, f"dialog_keys.{k}", v, [])
        for k, v in _mapping(path, "dialog_keys", data.get("dialog_keys")).items()
    }
    fallback = _mapping(path, "fallback", data.get("fallback")) or {
        "class": "busy",
        "detail": "unrecognized",
    }
    if fallback.get("class") not in CLASSES:
        raise ProfileError(f"{path}: fallback.class must be one of {', '.join(CLASSES)}")
    command = _strings(path, "command", data.get("command"), [])
    env = {str(k): str(v) for k, v in _mapping(path, "env", data.get("env")).items()}
    pass_env = _strings(path, "pass_env", data.get("pass_env"), [])
    problem = env_problem("profile", env, pass_env)
    if problem:
        raise ProfileError(f"{path}: {problem}")
    try:
        ready_timeout_s = float(data.get("ready_timeout_s", 30.0))
        tail_lines = int(screen.get("tail_lines", 12))
    except (TypeError, ValueError):
        raise ProfileError(
            f"{path}: ready_timeout_s and screen.tail_lines must be numbers"
        ) from None
    return Profile(
        name=str(data.get("name") or path.stem),
        command=command,
        resume_command=_strings(path, "resume_command", data.get("resume_command")),
        env=env,
        pass_env=pass_env,
        setup=data.get("setup"),
        ready_timeout_s=ready_timeout_s,
        keys={str(k): str(v) for k, v in _mapping(path, "keys", data.get("keys")).items()},
        dialog_keys=dialog_keys,
        permission_accept_keys=_strings(
            path, "permission_accept_keys", data.get("permission_accept_keys"), []
        ),
        exited_commands=_strings(path, "exited_commands", data.get("exited_commands"), []),
        busy_title=_compile(path, "busy_title", data.get("busy_title")),
        input_line=_compile(path, "screen.input_line", screen.get("input_line")),
        input_continuation=_compile(
            path, "screen.input_continuation", screen.get("input_continuation")
        ),
        rule_line=_compile(path, "screen.rule", screen.get("rule")),
        prompt_line=_compile(path, "screen.prompt_line", screen.get("prompt_line")),
        placeholder_dim=bool(screen.get("placeholder_dim", False)),
        placeholders=tuple(
            _compile(path, f"screen.placeholders[{i}]", p)
            for i, p in enumerate(
                _strings(path, "screen.placeholders", screen.get("placeholders"), [])
            )
        ),
        usage_reset=_compile(path, "screen.usage_reset", screen.get("usage_reset")),
        tail_lines=tail_lines,
        rules=tuple(rules),
        fallback=Reading(fallback["class"], fallback.get("detail")),
        source=str(path),
    )


def load_profile(name_or_path: str) -> Profile:
    """A profile by built-in name (`claude-code`) or by path to a YAML file; cached."""
    path = _resolve(name_or_path).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = -1
    cached = _cache.get((str(path), stamp))
    if cached is not None:
        return cached
    profile = _build(path, _read_raw(path))
    _cache[(str(path), stamp)] = profile
    log.debug("profile %s loaded from %s", profile.name, path)
    return profile


# --- cutting the screen into regions ----------------------------------------------------


class _Screen:
    """The visible lines of one capture and the regions the rules are matched against."""

    def __init__(self, text: str, profile: Profile):
        lines = [line.rstrip(" \r") for line in text.split("\n")]
        while lines and not lines[-1].strip():
            lines.pop()
        self.lines = lines
        self.profile = profile
        self._texts: dict[str, str] = {}
        self.box_start = self.box_end = -1
        self.input_text: str | None = None
        self._find_box()
        self._find_turn()

    def _find_box(self) -> None:
        profile, lines = self.profile, self.lines
        if profile.input_line is None:
            return
        rule = profile.rule_line
        last = len(lines) - 1
        for index in range(last, -1, -1):
            match = profile.input_line.match(lines[index])
            if match is None:
                continue
            # Without borders only the last line can be the live one; with borders the
            # live box is the one framed by a rule, which transcript lines never are.
            if rule is None and index != last:
                return
            if rule is not None and (index == 0 or not rule.match(lines[index - 1])):
                continue
            end = index + 1
            if rule is not None:
                while end < len(lines) and not rule.match(lines[end]):
                    end += 1
            else:
                end = len(lines)
            self.box_start, self.box_end = index, end
            parts = [lines[index][match.end() :]]
            for line in lines[index + 1 : end]:
                cont = profile.input_continuation
                parts.append(line[cont.match(line).end() :] if cont and cont.match(line) else line)
            self.input_text = "\n".join(part.rstrip() for part in parts).strip("\n")
            return

    def _find_turn(self) -> None:
        profile, lines = self.profile, self.lines
        top = self.box_start - 1 if self.has_box and profile.rule_line else self.box_start
        if not self.has_box:
            top = len(lines)
        start = 0
        if profile.prompt_line is not None:
            for index in range(top - 1, -1, -1):
                if profile.prompt_line.match(lines[index]):
                    start = index + 1
                    break
        if self.has_box:
            self.turn = (start, max(start, top))
            self.dialog = (len(lines), len(lines))
            return
        dialog_start = start
        if profile.rule_line is not None:
            for index in range(start, len(lines)):
                if profile.rule_line.match(lines[index]):
                    dialog_start = index + 1
                    break
        self.turn = (start, max(start, dialog_start - 1))
        self.dialog = (dialog_start, len(lines))

    @property
    def has_box(self) -> bool:
        return self.box_start >= 0

    def region(self, name: str) -> str:
        text = self._texts.get(name)
        if text is None:
            text = self._texts[name] = "\n".join(self._region_lines(name))
        return text

    def _region_lines(self, name: str) -> list[str]:
        lines = self.lines
        if name == "screen":
            return lines
        if name == "tail":
            tail: list[str] = []
            for line in reversed(lines):
                if line.strip():
                    tail.append(line)
                    if len(tail) == self.profile.tail_lines:
                        break
            return tail[::-1]
        if name == "last_line":
            return lines[-1:]
        if name == "box":
            return [self.input_text] if self.input_text else []
        if name == "below":
            if not self.has_box:
                return []
            below = self.box_end + 1 if self.profile.rule_line else self.box_end
            return lines[below:]
        if name == "dialog":
            return lines[self.dialog[0] : self.dialog[1]]
        turn = lines[self.turn[0] : self.turn[1]]
        if name == "turn_end":
            for index in range(len(turn) - 1, -1, -1):
                if turn[index][:1].strip():
                    return turn[index:]
            return []
        return turn

    def holds(self, when: str | None) -> bool:
        if when is None:
            return True
        if when == "box":
            return self.has_box
        if when == "no_box":
            return not self.has_box
        return self.has_box and not self.input_text


# --- classification -------------------------------------------------------------------


def classify(
    text: str,
    profile: Profile,
    *,
    dead: bool = False,
    current_command: str | None = None,
    title: str | None = None,
    ansi: str | None = None,
    now: float | None = None,
) -> Reading:
    """The reading of one capture (`capture-pane -p`); `ansi` is the same with `-e`.

    `now` only anchors a usage limit's reset time ("resets 6:20pm") to a date; it
    defaults to the current clock.
    """
    return explain(
        text, profile, dead=dead, current_command=current_command, title=title, ansi=ansi, now=now
    )[0]


def explain(
    text: str,
    profile: Profile,
    *,
    dead: bool = False,
    current_command: str | None = None,
    title: str | None = None,
    ansi: str | None = None,
    now: float | None = None,
) -> tuple[Reading, str]:
    """classify() plus one line saying which fact or rule decided it."""
    screen = _Screen(text, profile)
    status = None
    if screen.lines:
        found = _PANE_DEAD.match(screen.lines[-1])
        status = int(found.group(1)) if found else None
    command = os.path.basename(current_command or "")
    if dead or status is not None or (command and command in profile.exited_commands):
        why = "pane is dead" if dead or status is not None else f"{command} in the foreground"
        detail = "error" if status else None
        for rule in profile.rules:
            if (
                rule.cls == "exited"
                and rule.detail
                and rule.pattern.search(screen.region(rule.region))
            ):
                detail = rule.detail
                break
        return Reading("exited", detail), why

    reading, why = None, ""
    for rule in profile.rules:
        if screen.holds(rule.when) and rule.pattern.search(screen.region(rule.region)):
            reading, why = Reading(rule.cls, rule.detail), f"rule {rule.describe()}"
            break

    input_text = screen.input_text
    # Only the box decides between idle, draft and busy; skip the costly -e read else.
    if input_text and (reading is None or reading.cls in ("idle", "busy")):
        if _is_placeholder(screen, input_text, ansi):
            input_text = ""
    if reading is None:
        if not screen.has_box:
            reading, why = profile.fallback, "no input box and no rule matched"
        elif input_text:
            reading, why = Reading("draft"), "text in the input box"
        else:
            reading, why = Reading("idle"), "empty input box"
    if reading.cls in ("idle", "draft") and title and profile.busy_title is not None:
        if profile.busy_title.search(title):
            reading, why = Reading("busy"), f"title {title!r} says busy"

    reset_at = None
    if reading.detail == "usage-limit" and profile.usage_reset is not None:
        reset_at = _reset_time(screen.region("screen"), profile.usage_reset, now)
    reading = dataclasses.replace(
        reading, input_text=input_text if screen.has_box else None, reset_at=reset_at
    )
    return reading, why


def _is_placeholder(screen: _Screen, input_text: str, ansi: str | None) -> bool:
    """Whether the box's text is the agent's own dim hint rather than typed text."""
    profile = screen.profile
    if ansi is not None and profile.placeholder_dim:
        return _rendered_dim(ansi, screen.box_start, screen.box_end, profile)
    return any(p.search(input_text) for p in profile.placeholders)


def _rendered_dim(ansi: str, start: int, end: int, profile: Profile) -> bool:
    """True when every visible character of the box's text is dim or grey.

    The reversed character is the cursor and says nothing about the text. The escape
    state carries over from earlier lines, so the capture is read from the top.
    """
    state = {"dim": False, "grey": False, "reverse": False}
    seen_text = False
    rows = ansi.split("\n")
    before = "\n".join(rows[:start])
    # A full reset clears every attribute, so only what follows the last one matters.
    reset = max(before.rfind("\x1b[0m"), before.rfind("\x1b[m"))
    for sgr in _SGR.finditer(before, max(reset, 0)):
        _apply_sgr(state, sgr.group(1))
    for index, line in enumerate(rows[start:end], start):
        skip = 0
        if index == start and profile.input_line is not None:
            found = profile.input_line.match(_OTHER_ESCAPE.sub("", line))
            skip = found.end() if found else 0
        column = 0
        for token in _tokens(line):
            if token[0] == "\x1b":
                sgr = _SGR.fullmatch(token)
                if sgr:
                    _apply_sgr(state, sgr.group(1))
                continue
            for char in token:
                column += 1
                if column <= skip or not char.strip() or state["reverse"]:
                    continue
                seen_text = True
                if not (state["dim"] or state["grey"]):
                    return False
    return seen_text


def _tokens(line: str):
    pos = 0
    for escape in _OTHER_ESCAPE.finditer(line):
        if escape.start() > pos:
            yield line[pos : escape.start()]
        yield escape.group(0)
        pos = escape.end()
    if pos < len(line):
        yield line[pos:]


def _apply_sgr(state: dict[str, bool], params: str) -> None:
    codes = [int(c) if c.isdigit() else 0 for c in params.replace(":", ";").split(";")]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            state.update(dim=False, grey=False, reverse=False)
        elif code == 2:
            state["dim"] = True
        elif code == 22:
            state["dim"] = False
        elif code == 7:
            state["reverse"] = True
        elif code == 27:
            state["reverse"] = False
        elif code in (90, 30):
            state["grey"] = True
        elif 31 <= code <= 37 or code == 39 or 91 <= code <= 97:
            state["grey"] = False
        elif code == 38 and i + 1 < len(codes):
            if codes[i + 1] == 5 and i + 2 < len(codes):
                n = codes[i + 2]
                state["grey"] = n in (0, 8) or 232 <= n <= 250
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                r, g, b = codes[i + 2 : i + 5]
                state["grey"] = max(r, g, b) - min(r, g, b) < 24 and 40 <= r <= 190
                i += 4
        i += 1


def _reset_time(text: str, pattern: re.Pattern[str], now: float | None) -> float | None:
    """The next moment matching the last "resets 6:20pm (UTC)" on the screen."""
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    found = matches[-1]
    groups = found.groupdict()
    when = _WHEN.search(groups.get("when") or found.group(0))
    if when is None:
        return None
    try:
        zone = ZoneInfo((groups.get("tz") or "UTC").strip())
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    hour, minute = int(when["hour"]), int(when["minute"] or 0)
    if when["half"]:
        hour = hour % 12 + (12 if when["half"].lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    current = datetime.fromtimestamp(time.time() if now is None else now, zone)
    candidate = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if when["month"]:
        month = _MONTHS.get(when["month"][:3].lower())
        if month is None:
            return None
        try:
            candidate = candidate.replace(month=month, day=int(when["day"]))
            if candidate < current - timedelta(days=1):
                candidate = candidate.replace(year=candidate.year + 1)
        except ValueError:
            return None
    elif candidate <= current:
        candidate += timedelta(days=1)
    return candidate.timestamp()


# --- settling ---------------------------------------------------------------------------


@dataclass
class _Track:
    reading: Reading
    since: float
    digest: bytes
    unchanged_since: float


class Settler:
    """Counts a reading only once it has held across two looks `settle_s` apart.

    Screens pass through misleading frames (a box that empties a moment before the
    spinner shows, a menu drawn line by line); acting on one frame would press keys into
    the wrong state. Time is passed in, so this is pure and testable without a clock.
    """

    def __init__(self, settle_s: float = 1.0):
        self.settle_s = settle_s
        self._tracks: dict[str, _Track] = {}

    def observe(
        self, key: str, reading: Reading, content: str, now: float
    ) -> tuple[Reading | None, float | None]:
        """(the settled reading, since when it has held) or (None, None) while unsettled."""
        digest = hashlib.blake2b(content.encode("utf-8", "replace"), digest_size=16).digest()
        track = self._tracks.get(key)
        if track is None or (track.reading.cls, track.reading.detail) != (
            reading.cls,
            reading.detail,
        ):
            self._tracks[key] = _Track(reading, now, digest, now)
            return None, None
        if digest != track.digest:
            track.digest, track.unchanged_since = digest, now
        track.reading = reading
        if now - track.since >= self.settle_s:
            return reading, track.since
        return None, None

    def unchanged_since(self, key: str) -> float | None:
        """When the screen's content last changed (a busy screen frozen for long hangs)."""
        track = self._tracks.get(key)
        return track.unchanged_since if track else None

    def forget(self, key: str) -> None:
        self._tracks.pop(key, None)


__all__ = [
    "CLASSES",
    "Profile",
    "ProfileError",
    "Reading",
    "Settler",
    "classify",
    "explain",
    "load_profile",
]
