"""The controller's configuration: one YAML file, checked strictly before anything runs.

A typo in a key that is silently ignored can leave agents running with the wrong policy
for days, so an unknown key, a wrong type or a bad value is an error that names the key
and the file. Every setting has a default; an empty file is a valid configuration.
This module never touches the network, tmux or git.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import difflib
import math
import os
import re
import shlex
import string
import sys
import sysconfig
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from controller.files import FileProblem, number_text, read_small, written, yaml_problem


class ConfigError(Exception):
    """A configuration file that cannot be used; the message says where and what to do."""


@dataclass(frozen=True)
class GitHubConfig:
    api_url: str = "https://api.github.com"
    repo: str = ""
    # Logins whose issues are worked on. Empty means: only the token's own login.
    authors: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    exclude_labels: list[str] = field(default_factory=list)
    # A date (YYYY-MM-DD), "today", or empty for no limit.
    created_since: str = ""
    # What a pull request without any check means: "wait" for one, or "success"
    # once no_checks_grace_s has passed since its head moved.
    no_checks: str = "wait"
    no_checks_grace_s: float = 120.0
    # Every read is conditional: an unchanged list costs a 304, which is not counted
    # against the rate limit, so a short interval buys reaction time for free.
    poll_interval_s: float = 3.0
    timeout_s: float = 20.0


@dataclass(frozen=True)
class RepoConfig:
    # A local clone of github.repo; cloned from the forge when it does not exist.
    path: str = "./repo"
    # Empty means the remote's default branch.
    base_branch: str = ""
    branch_template: str = "fix/issue-{number}-{suffix}"
    worktree_dir: str = "./worktrees"


@dataclass(frozen=True)
class TmuxConfig:
    socket: str = "controller"
    session_template: str = "worker-{number}"
    width: int = 200
    height: int = 50
    poll_interval_s: float = 1.0


@dataclass(frozen=True)
class AgentConfig:
    # A profile name shipped with the controller (claude-code, generic, scripted) or a
    # path to a profile YAML file.
    profile: str = "claude-code"
    # Overrides the profile's command when set.
    command: str = ""
    # Extra environment for the agent; values are passed literally.
    env: dict[str, str] = field(default_factory=dict)
    # Names of variables copied from the controller's own environment.
    pass_env: list[str] = field(default_factory=list)
    # The GitHub token reaches the agent only when this is true.
    pass_github_token: bool = False


@dataclass(frozen=True)
class PolicyConfig:
    max_workers: int = 3
    stall_after_s: float = 180.0
    max_nudges: int = 5
    max_spawns: int = 3
    max_ci_attempts: int = 3
    # What to do with a tool permission prompt: "stall" (leave it to a person) or
    # "accept" (press the profile's accept key).
    permission: str = "stall"
    # How long a pane must read the same before it counts as settled.
    settle_s: float = 1.0
    # A busy screen that has not changed at all for this long is taken as hung: the
    # agent is interrupted (the profile's interrupt key) and then nudged.
    hang_after_s: float = 600.0
    retry_backoff_s: float = 10.0
    retry_backoff_max_s: float = 600.0


@dataclass(frozen=True)
class Config:
    github: GitHubConfig = field(default_factory=GitHubConfig)
    repo: RepoConfig = field(default_factory=RepoConfig)
    tmux: TmuxConfig = field(default_factory=TmuxConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    state_dir: str = "./state"
    prompts_dir: str = ""
    # Where relative paths in the file are resolved from (the file's folder).
    base_dir: str = "."

    def path(self, value: str) -> Path:
        """A path setting resolved against the configuration file's folder."""
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else Path(self.base_dir) / candidate

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)

    @property
    def prompts_path(self) -> Path:
        if self.prompts_dir:
            return self.path(self.prompts_dir)
        return shipped_prompts_path()


# Where an install puts the top-level prompts/ folder (pyproject.toml's data-files),
# below the install scheme's data directory: a venv's root, /usr/local or ~/.local.
INSTALLED_PROMPTS = Path("share", "issue-controller", "prompts")


def shipped_prompts_path() -> Path:
    """The prompt templates that came with the controller.

    A source checkout (or an editable install of one) reads its own prompts/ folder, so
    an edited template counts at once; any other install reads the copy that was
    installed beside it. The checkout is recognised by its pyproject.toml, so that a
    stray top-level `prompts` package in site-packages is never taken for ours.
    """
    checkout = Path(__file__).resolve().parent.parent
    candidates = [checkout / "prompts"] if (checkout / "pyproject.toml").is_file() else []
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        installed = Path(sysconfig.get_path("data", scheme)) / INSTALLED_PROMPTS
        if installed not in candidates:
            candidates.append(installed)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        "the prompt templates that come with the controller are missing (looked in "
        + ", ".join(map(str, candidates))
        + "); reinstall the controller, or set prompts_dir in controller.yaml to a folder "
        "holding them"
    )


_CHOICES = {
    ("github", "no_checks"): ("wait", "success"),
    ("policy", "permission"): ("stall", "accept"),
}


# The longest any interval, timeout, grace or backoff may be. More is a slip (an extra
# zero, or 1.0e+20 meant as "never"), and a time that far ahead cannot be written down:
# a failure whose retry would fall after the year 9999 could not be recorded at all.
MAX_SECONDS = 604800  # one week

# The agents' screen size. Below these the profiles' screen rules have too little to read;
# above them every capture is mostly blank and costly to read (tmux itself stops at 10000).
TMUX_WIDTH = (20, 1000)
TMUX_HEIGHT = (5, 1000)

# What a shell, env and exec accept as a variable name; anything else (an `=`, a space, an
# empty name) fails or means something else only when the agent is started.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_BOOLEAN_WORDS = "YAML reads an unquoted yes, no, on or off as true or false"


def _expected(annotation: Any, example: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is list:
        return "a list, e.g. [first, second]"
    if origin is dict:
        return "a mapping of names to values, e.g. {MY_VAR: value}"
    if annotation is bool:
        return "true or false"
    what = {str: "text", int: "a whole number", float: "a number of seconds"}[annotation]
    if example in (None, ""):
        return what
    return f"{what}, e.g. {number_text(example) if annotation is float else example}"


def _type_hint(annotation: Any, value: Any, example: Any) -> str:
    """How to write what was meant, where the slip is a common one."""
    if value is None:
        return " (write a value, or remove the key to use the default)"
    if isinstance(value, bool):
        return f" ({_BOOLEAN_WORDS}{': put it in quotes' if annotation is str else ''})"
    if annotation is str and isinstance(value, int | float):
        return f" (put it in quotes: '{value}')" if math.isfinite(value) else " (put it in quotes)"
    if annotation is float and isinstance(value, float) and math.isinf(value):
        return " (YAML reads .inf, and a number too large such as 1.0e+999, as infinity)"
    if annotation is int and isinstance(value, float) and value.is_integer():
        return f" (write {number_text(value)}, without the point)"
    if annotation is bool and isinstance(value, str):
        if value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return " (write true or false without quotes)"
    return _number_hint(annotation, value)


def _type_error(where: str, annotation: Any, value: Any, example: Any = None) -> ConfigError:
    return ConfigError(
        f"{where} must be {_expected(annotation, example)}; found {written(value)}"
        f"{_type_hint(annotation, value, example)}"
    )


def _check_value(where: str, annotation: Any, value: Any, example: Any = None) -> Any:
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        if value is None:
            return []
        if not isinstance(value, list):
            raise _type_error(where, annotation, value)
        return [_check_value(f"{where}[{i}]", item, v) for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _type_error(where, annotation, value)
        for name in value:
            if not isinstance(name, str):
                raise ConfigError(
                    f"{where} must map names to values, e.g. {{MY_VAR: value}}; found "
                    f"{written(name)} as a name"
                )
        return {k: _check_value(f"{where}.{k}", str, v) for k, v in value.items()}
    if annotation is str and value is None:
        return ""
    if annotation is str and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()  # YAML reads an unquoted 2024-05-01 as a date
    if isinstance(value, bool):
        if annotation is bool:
            return value
        raise _type_error(where, annotation, value, example)
    if annotation is float and isinstance(value, int):
        # An integer too large for a float stays exact: every number of seconds has a
        # most (MAX_SECONDS), so _validate refuses it before it is used.
        return float(value) if abs(value) <= 2**53 else value
    if annotation is float and isinstance(value, float) and not math.isfinite(value):
        raise _type_error(where, annotation, value, example)
    if annotation in (str, int, float) and isinstance(value, annotation):
        return value
    raise _type_error(where, annotation, value, example)


def _number_hint(annotation: Any, value: Any) -> str:
    """How to write a number that YAML 1.1 read as text, such as 1e9."""
    if annotation not in (int, float) or not isinstance(value, str):
        return ""
    try:
        number = decimal.Decimal(value.strip())
    except decimal.InvalidOperation:
        return ""
    if not number.is_finite() or annotation is int and number != number.to_integral_value():
        return ""
    if isinstance(yaml.safe_load(value), int | float):
        return " (it is in quotes: write the number without them)"
    plain = f"{number.normalize():f}"
    if annotation is int:
        return f" (YAML reads {value} as text: write {plain})"
    # YAML 1.1 takes an exponent only after a dot and with its sign: 1.0e+9, not 1e9.
    sign, digits, exponent = number.normalize().as_tuple()
    power = exponent + len(digits) - 1
    mantissa = f"{digits[0]}.{''.join(map(str, digits[1:])) or '0'}"
    scientific = f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power)}"
    return f" (YAML reads {value} as text: write {plain} or {scientific})"


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: {where or 'the file'} must be a mapping of keys to values, e.g. "
            f"key: value on lines of their own; found {written(data)}"
        )
    hints = typing.get_type_hints(cls)
    defaults = cls()
    known = {f.name for f in dataclasses.fields(cls) if f.name != "base_dir"}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        prefix = f"{where}." if where else ""
        close = difflib.get_close_matches(str(unknown[0]), sorted(known), n=1)
        hint = f"did you mean `{prefix}{close[0]}`? " if close else ""
        raise ConfigError(
            f"{source}: unknown key {prefix}{unknown[0]!s}; {hint}known keys here: "
            + ", ".join(sorted(known))
        )
    values = {}
    for name in known & set(data):
        annotation = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(annotation):
            values[name] = _build(annotation, data[name], key, source)
            continue
        choices = _CHOICES.get((where, name))
        if choices and data[name] not in choices:
            # Checked before the type, so `permission: yes` (which YAML reads as true)
            # is told the choices rather than "must be string".
            hint = f" ({_BOOLEAN_WORDS})" if isinstance(data[name], bool) else ""
            raise ConfigError(
                f"{source}: {key} must be one of {', '.join(choices)}; found "
                f"{written(data[name])}{hint}"
            )
        try:
            values[name] = _check_value(key, annotation, data[name], getattr(defaults, name))
        except ConfigError as error:
            raise ConfigError(f"{source}: {error}") from None
    return cls(**values)


# Intervals and timeouts that must be more than zero; every other number of seconds may
# be zero (a stall threshold of zero nudges an idle agent at once), and every count too.
_POSITIVE = {
    ("github", "poll_interval_s"),
    ("github", "timeout_s"),
    ("tmux", "poll_interval_s"),
    ("policy", "hang_after_s"),
}
# The numbers with a range of their own: (least, most, unit).
_RANGES = {
    ("tmux", "width"): (*TMUX_WIDTH, "columns"),
    ("tmux", "height"): (*TMUX_HEIGHT, "lines"),
}


def _range(section: str, name: str, annotation: Any) -> tuple[float, bool, float | None, str]:
    """(least, whether the least itself is refused, most or None, unit) of a number."""
    if (section, name) in _RANGES:
        least, most, unit = _RANGES[section, name]
        return least, False, most, unit
    if annotation is float:
        return 0, (section, name) in _POSITIVE, MAX_SECONDS, "seconds"
    return 0, False, None, ""


def _range_text(least: float, above: bool, most: float | None, unit: str) -> str:
    unit = f" {unit}" if unit else ""
    week = " (one week)" if most == MAX_SECONDS and unit == " seconds" else ""
    if most is None:
        return f"{least} or more{unit}"
    if above:
        return f"more than {least} and at most {most}{unit}{week}"
    return f"from {least} to {most}{unit}{week}"


def _check_ranges(config: Config, source: str) -> None:
    """Every number is within its range: found here, not when it is first used."""
    for section_field in dataclasses.fields(config):
        section = getattr(config, section_field.name)
        if not dataclasses.is_dataclass(section):
            continue
        hints = typing.get_type_hints(type(section))
        for field_ in dataclasses.fields(section):
            annotation = hints[field_.name]
            if annotation not in (int, float):
                continue
            value = getattr(section, field_.name)
            least, above, most, unit = _range(section_field.name, field_.name, annotation)
            if value < least or (above and value == least) or (most is not None and value > most):
                raise ConfigError(
                    f"{source}: {section_field.name}.{field_.name} must be "
                    f"{_range_text(least, above, most, unit)}; found {number_text(value)}"
                )


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _validate(config: Config, source: str) -> None:
    _check_ranges(config, source)
    policy = config.policy
    if policy.retry_backoff_max_s < policy.retry_backoff_s:
        raise ConfigError(
            f"{source}: policy.retry_backoff_max_s ({number_text(policy.retry_backoff_max_s)}) "
            f"must be at least policy.retry_backoff_s ({number_text(policy.retry_backoff_s)}); "
            "raise the one or lower the other"
        )
    _check_api_url(config.github.api_url, source)
    since = config.github.created_since
    if since not in ("", "today"):
        try:
            if not _DATE.fullmatch(since):
                raise ValueError
            dt.date.fromisoformat(since)
        except ValueError:
            raise ConfigError(
                f"{source}: github.created_since must be a date (YYYY-MM-DD, such as "
                f'2024-05-01), "today" or empty; found {since!r}'
            ) from None
    if config.github.repo and config.github.repo.count("/") != 1:
        raise ConfigError(
            f"{source}: github.repo must look like OWNER/NAME, e.g. octocat/hello-world; "
            f"found {config.github.repo!r}"
        )
    _check_template(
        source,
        "repo.branch_template",
        config.repo.branch_template,
        ("number", "suffix"),
        _BAD_BRANCH,
        "a git branch name",
    )
    _check_template(
        source,
        "tmux.session_template",
        config.tmux.session_template,
        ("number",),
        _BAD_SESSION,
        "a tmux session name",
    )
    socket = config.tmux.socket
    if not socket or "/" in socket or len(socket) > 64 or not socket.isprintable():
        raise ConfigError(
            f"{source}: tmux.socket must be a plain name of up to 64 characters without "
            f"'/' (tmux -L NAME makes a socket of that name in its own folder); found {socket!r}"
        )
    _check_agent(config.agent, source)
    if not config.state_dir.strip():
        raise ConfigError(
            f"{source}: state_dir is empty; name the folder for the state files, such as "
            "./state (or . for the configuration's own folder)"
        )
    if config.prompts_dir and not config.path(config.prompts_dir).is_dir():
        raise ConfigError(
            f"{source}: prompts_dir {config.prompts_dir!r} is not a folder "
            f"({config.path(config.prompts_dir)}); create it with your templates, or remove "
            "the key to use the shipped ones"
        )


def _check_api_url(url: str, source: str) -> None:
    """An address the HTTP client can use; a bad port or no host fails only at the first read."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname
        problem = (
            "" if scheme in ("http", "https") else "it does not start with http:// or https://"
        )
        if not problem and not host:
            problem = "it names no host"
        if not problem and parts.port == 0:
            problem = "its port is 0"
        if not problem and "@" in parts.netloc:
            problem = (
                "it holds a user name or password; the token goes in GITHUB_TOKEN, never in "
                "the address"
            )
        if not problem and (parts.query or parts.fragment or url.endswith(("?", "#"))):
            problem = "it has a ?query or #fragment, which the API paths cannot follow"
    except ValueError as error:
        # urlsplit's own words: "Port out of range 0-65535", "Port could not be cast to
        # integer value", "Invalid IPv6 URL".
        problem = (
            "its port is not a number from 1 to 65535"
            if "Port" in str(error)
            else "its host is not a valid address"
        )
    if problem:
        # Shown without a user name or password, whatever the problem: it may be the token.
        shown = _USERINFO.sub(lambda m: f"{m.group(1) or ''}***@", url)
        raise ConfigError(
            f"{source}: github.api_url must be an http:// or https:// address with a host "
            f"and, if any, a port from 1 to 65535, e.g. https://api.github.com or "
            f"http://127.0.0.1:8000; found {shown!r}, and {problem}"
        )


_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#]*@")


# The variables that carry the controller's GitHub token; the agent gets them only through
# agent.pass_github_token (launch.py drops them from everything else).
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN")


def _check_agent(agent: AgentConfig, source: str) -> None:
    """The agent's command splits into words, and no token is asked for the wrong way.

    Checked here rather than at launch, where a quoting slip would fail every start of
    every agent, and a token named in pass_env or env would be dropped without a word.
    """
    if agent.command:
        try:
            words = shlex.split(agent.command)
        except ValueError as error:
            raise ConfigError(
                f"{source}: agent.command {agent.command!r} cannot be split into words "
                f"({str(error).lower()}); close the quotation, or quote the quote "
                "character itself"
            ) from None
        if not words or not words[0]:
            raise ConfigError(
                f"{source}: agent.command {agent.command!r} names no program; write the "
                "command, or leave it empty for the profile's own"
            )
    problem = env_problem("agent", agent.env, agent.pass_env)
    if problem:
        raise ConfigError(f"{source}: {problem}")
    for key, names in (("agent.pass_env", agent.pass_env), ("agent.env", list(agent.env))):
        token = next((name for name in names if name in TOKEN_VARIABLES), None)
        if token is not None:
            raise ConfigError(
                f"{source}: {key} names {token}, which never reaches the agent that way; "
                f"remove it and set agent.pass_github_token: true to give the agent the "
                "controller's own token"
            )


def env_problem(where: str, env: dict[str, str], pass_env: list[str]) -> str | None:
    """What would keep `WHERE.env` and `WHERE.pass_env` from reaching a process, or None.

    Found when the file is read: at launch, a name with `=` or a value with a NUL would
    fail every start of every agent.
    """
    for key, names in ((f"{where}.pass_env", pass_env), (f"{where}.env", list(env))):
        bad = next((name for name in names if not _ENV_NAME.fullmatch(name)), None)
        if bad is not None:
            what = "an empty name" if not bad else f"{bad!r}, which is not a variable name"
            return (
                f"{key} names {what}; a name is letters, digits and _, not starting with a "
                f"digit, e.g. MY_VAR (a value goes in {where}.env as MY_VAR: value)"
            )
    bad = next((name for name, value in env.items() if "\0" in value), None)
    if bad is not None:
        return (
            f"{where}.env gives {bad} a value holding a NUL character (\\0), which no "
            "environment can carry; remove it from the value"
        )
    return None


# What may not appear in a branch name (git check-ref-format) or a tmux session name.
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[/.-]|[/.]$|\.lock$|/\.")
_BAD_SESSION = re.compile(r"[\x00-\x20\x7f:.]")


def _check_template(
    source: str, key: str, template: str, fields: tuple[str, ...], bad: re.Pattern[str], what: str
) -> None:
    """A template must name {number}, only known fields, and give a usable name."""
    allowed = ", ".join(f"{{{name}}}" for name in fields)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        raise ConfigError(
            f"{source}: {key} {template!r} is not a valid template (a {{ or }} without its "
            f"partner); write literal text and {allowed}"
        ) from None
    for _text, name, spec, conversion in parsed:
        if name is not None and (name not in fields or spec or conversion):
            used = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ConfigError(
                f"{source}: {key} {template!r} uses {used}; it may use only "
                f"{allowed}, written just so"
            )
    if "number" not in {name for _text, name, _spec, _conv in parsed}:
        raise ConfigError(f"{source}: {key} must contain {{number}}, such as {template}-{{number}}")
    example = template.format(number=42, suffix="a")
    if bad.search(example):
        raise ConfigError(
            f"{source}: {key} {template!r} gives {example!r} for issue 42, which is not {what}"
        )


def from_mapping(data: Any, source: str = "<config>", base_dir: str | Path = ".") -> Config:
    config = _build(Config, data, "", source)
    config = dataclasses.replace(config, base_dir=str(base_dir))
    _validate(config, source)
    return config


DEFAULT_PATH = Path("controller.yaml")


def _check_nodes(
    node: Any, source: str, where: str = "", seen_nodes: set[int] | None = None
) -> None:
    """A key written twice in one mapping, or a value YAML cannot turn into a value.

    YAML would keep the last of two keys silently; a date that does not exist
    (2024-02-30) or a number of thousands of digits would stop the reading with a
    Python traceback. An alias shares its anchor's node, so each node is looked at
    once: a node that holds an alias of itself would otherwise never end, nested
    aliases take exponential time.
    """
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = f"{where}.{key_node.value}" if where else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{source}: line {line}: the key {key} appears twice (first "
                    f"on line {seen[key]}); keep one of them"
                )
            seen[key] = line
            _check_nodes(key_node, source, key, seen_nodes)
            _check_nodes(value_node, source, key, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, source, f"{where}[{index}]", seen_nodes)
    elif isinstance(node, yaml.ScalarNode) and node.tag in _CONSTRUCTED:
        try:
            yaml.constructor.SafeConstructor().construct_object(node)
        except (ValueError, OverflowError):
            if node.tag == _TIMESTAMP:
                wanted = "a date that exists, e.g. 2024-05-01"
                found = f"{node.value[:40]}, which does not exist"
            else:
                wanted = f"a number of at most {sys.get_int_max_str_digits()} digits"
                found = f"a number of {len(node.value)} characters"
            raise ConfigError(
                f"{source}: line {node.start_mark.line + 1}: {where or 'the file'} must be "
                f"{wanted}; found {found}"
            ) from None


# The plain values YAML makes into a Python value that can fail to exist.
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_CONSTRUCTED = ("tag:yaml.org,2002:int", _TIMESTAMP)


def load(path: str | Path | None, *, required: bool = False) -> Config:
    """Read the configuration file; only the implicit ./controller.yaml may be absent.

    A file named explicitly (`--config FILE`) that does not exist is an error: running
    on the defaults instead would hide a typo in the name. Without a name, a missing
    ./controller.yaml gives the defaults unless `required`; a symbolic link there whose
    target is missing is an error, not a missing file.
    """
    if path is not None and not str(path):
        raise ConfigError("an empty name was given as the configuration file; name the file")
    named = path is not None
    path = Path(path) if named else DEFAULT_PATH
    text = ""
    try:
        text = read_small(path, what="configuration").decode("utf-8")
        _check_nodes(yaml.compose(text, Loader=yaml.SafeLoader), str(path))
        data = yaml.safe_load(text)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ConfigError(
                f"{path}: is a symbolic link to {os.readlink(path)}, which does not exist; "
                "fix or remove the link"
            ) from None
        if required or named:
            raise ConfigError(
                f"{path}: no such configuration file; `controller init` writes one"
            ) from None
        return from_mapping({}, str(path), base_dir=Path.cwd())
    except FileProblem as error:
        raise ConfigError(str(error)) from None
    except yaml.YAMLError as error:
        line, problem = yaml_problem(error, text)
        where = f" line {line}:" if line is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML: {problem}") from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a directory, not a configuration file; name the "
            "YAML file itself (such as controller.yaml)"
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}), so not a configuration file; name the YAML file, or save it "
            "as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot be read ({error.strerror}); check that this user may read it"
        ) from None
    return from_mapping(data, str(path), base_dir=path.resolve().parent)


def replace(config: Config, **sections: dict[str, Any]) -> Config:
    """A copy with some fields of some sections changed, e.g. replace(c, policy={...})."""
    changes = {}
    for name, fields in sections.items():
        current = getattr(config, name)
        is_section = dataclasses.is_dataclass(current)
        changes[name] = dataclasses.replace(current, **fields) if is_section else fields
    return dataclasses.replace(config, **changes)


__all__ = ["Config", "ConfigError", "load", "from_mapping", "replace"]
