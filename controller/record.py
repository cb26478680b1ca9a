"""One issue's state file: its fields, their checks, and its YAML form.

People read and edit these files, so the YAML keeps a fixed key order, omits empty
fields (a hand-written two-key file stays two keys), and every complaint names the file,
the line where YAML knows it, and what to do. A key this module does not know is an
error rather than something silently kept: a misspelt `reason:` that is quietly ignored
would look accepted when it was not.

This module never touches the file system, tmux, git or the network; the store decides
where the text comes from and where it goes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.files import written
from controller.machine import STATES, is_valid_state

MAX_BYTES = 64 * 1024
CI_RESULTS = ("pending", "success", "failure")
_ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class RecordError(ValueError):
    """A state file that cannot be used as it is; str() is `FILE line N: PROBLEM`."""

    def __init__(self, path: str, line: int | None, problem: str):
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path} line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Record:
    issue: int
    state: str
    title: str | None = None
    url: str | None = None
    since: str | None = None
    reason: str | None = None
    forced: bool = False
    branch: str | None = None
    worktree: str | None = None
    session: str | None = None
    pr: int | None = None
    pr_url: str | None = None
    head: str | None = None
    ci: str | None = None
    ci_failed: list[str] = field(default_factory=list)
    nudges: int = 0
    spawns: int = 0
    ci_failures: int = 0
    pane: str | None = None
    pane_since: str | None = None
    error: str | None = None
    retry_at: str | None = None
    attempts: int = 0
    updated: str | None = None

    def replace(self, **changes: Any) -> Record:
        unknown = sorted(set(changes) - set(FIELD_NAMES))
        if unknown:
            raise TypeError(f"Record has no field {unknown[0]!r}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields worth writing, in file order: empty optional fields are left out."""
        data: dict[str, Any] = {}
        for name in FIELD_NAMES:
            value = getattr(self, name)
            if name in ("issue", "state") or value not in (None, False, 0, [], ""):
                data[name] = list(value) if isinstance(value, list) else value
        return data

    def to_yaml(self) -> str:
        data = {
            name: _Timestamp(value) if name in _TIMESTAMP_FIELDS else value
            for name, value in self.to_dict().items()
        }
        return yaml.dump(
            data,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=1_000_000,
        )

    @classmethod
    def from_yaml(cls, text: str, path: str) -> Record:
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size > MAX_BYTES:
            raise RecordError(
                path,
                None,
                f"is {size} bytes, more than the {MAX_BYTES} a state file may be; "
                "shorten it or move it out of the state directory",
            )
        data, lines = _parse(text, path)
        return cls.from_mapping(data, path, lines)

    @classmethod
    def from_mapping(
        cls, data: Any, path: str = "<record>", lines: dict[str, int] | None = None
    ) -> Record:
        lines = lines or {}
        if not isinstance(data, dict):
            raise RecordError(
                path,
                1,
                "must be a mapping of keys to values, like `issue: 7` and "
                "`state: working` on two lines",
            )
        for key in data:
            if key not in FIELD_NAMES:
                raise RecordError(path, lines.get(str(key)), _unknown_key_message(key))
        for key in ("issue", "state"):
            if key not in data or data[key] is None:
                raise RecordError(path, None, f"the required key `{key}:` is missing")
        values = {
            name: _check_field(name, value, path, lines.get(name)) for name, value in data.items()
        }
        return cls(**values)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Record))
_TIMESTAMP_FIELDS = frozenset({"since", "pane_since", "retry_at", "updated"})
# A person forcing a state asks for another try: the budgets and the last failure start
# afresh (a forced `spawned` then starts a new agent, not a resumed one).
FRESH_BUDGETS: dict[str, Any] = {
    "nudges": 0,
    "spawns": 0,
    "ci_failures": 0,
    "attempts": 0,
    "error": None,
    "retry_at": None,
}
# GitHub's issue and pull request numbers are 32-bit.
MAX_NUMBER = 2**31 - 1
_INT_FIELDS = frozenset({"issue", "pr", "nudges", "spawns", "ci_failures", "attempts"})
_TEXT_FIELDS = frozenset(
    {"title", "url", "reason", "branch", "worktree", "session", "pr_url", "head", "pane", "error"}
)


def _unknown_key_message(key: Any) -> str:
    close = difflib.get_close_matches(str(key), FIELD_NAMES, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown key {str(key)!r}; {hint}known keys: {', '.join(FIELD_NAMES)}"


def _check_field(name: str, value: Any, path: str, line: int | None) -> Any:
    def fail(expected: str) -> RecordError:
        return RecordError(path, line, f"{name} must be {expected}; found {written(value)}")

    if name == "state":
        if not is_valid_state(value):
            raise RecordError(
                path, line, f"unknown state {value!r}; valid states: {', '.join(STATES)}"
            )
        return value
    if name in _INT_FIELDS:
        if value is None and name == "pr":
            return None
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("a whole number")
        if name in ("issue", "pr") and not 0 < value <= MAX_NUMBER:
            raise fail(f"a number from 1 to {MAX_NUMBER}")
        if value < 0:
            raise fail("zero or more")
        return value
    if name == "forced":
        if value is None:
            return False
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if name == "ci_failed":
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("a list of check names")
        return list(value)
    if name in _TIMESTAMP_FIELDS:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return utc_now_iso(_as_utc(value).timestamp())
        if isinstance(value, str):
            try:
                return utc_now_iso(parse_iso(value))
            except ValueError:
                pass
        raise fail("a UTC time like 2026-12-03T16:00:00Z")
    if name == "ci":
        if value is None or value in CI_RESULTS:
            return value
        raise fail("one of " + ", ".join(CI_RESULTS))
    if name in _TEXT_FIELDS:
        if value is None or isinstance(value, str):
            return value
        # An unquoted number (a branch `1234`, a title `2026`) is still text to a person.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise fail("text")
    raise AssertionError(f"field {name} has no check")


def _parse(text: str, path: str) -> tuple[Any, dict[str, int]]:
    """The YAML document and, for each top-level key, the line its value starts on."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[str, int] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in lines:
                    raise RecordError(
                        path, key_node.start_mark.line + 1, f"the key `{key}:` appears twice"
                    )
                lines[key] = value_node.start_mark.line + 1
        return loader.construct_document(node), lines
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise RecordError(path, line, f"not valid YAML: {problem}") from None
    finally:
        loader.dispose()


def _as_utc(value: dt.datetime) -> dt.datetime:
    # A time without a zone in a hand-written file is read as UTC, as the files are.
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def utc_now_iso(now: float | None = None) -> str:
    moment = time.time() if now is None else now
    return dt.datetime.fromtimestamp(int(moment), dt.UTC).strftime(_ISO_FORMAT)


def parse_iso(text: str) -> float:
    """Seconds since the epoch for an ISO 8601 time; a time without a zone is UTC."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return _as_utc(value).timestamp()


class _Timestamp(str):
    """A time written as a plain YAML timestamp, so files read `since: 2026-...Z`."""


class _Dumper(yaml.SafeDumper):
    pass


def _represent_timestamp(dumper: yaml.SafeDumper, value: _Timestamp) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", str(value))


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # PyYAML's plain and single-quoted styles lose some line breaks (NEL, U+2028) on the
    # way back; double quotes escape every break and control character.
    awkward = any(not char.isprintable() or char in _BREAKS for char in value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if awkward else None)


_BREAKS = frozenset("\n\r\x85\u2028\u2029")
_Dumper.add_representer(_Timestamp, _represent_timestamp)
_Dumper.add_representer(str, _represent_text)


__all__ = [
    "FIELD_NAMES",
    "FRESH_BUDGETS",
    "MAX_BYTES",
    "Record",
    "RecordError",
    "parse_iso",
    "utc_now_iso",
]
