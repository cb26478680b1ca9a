"""Values that read as the right type but fail later are refused when the file is loaded.

A variable name with `=` in it, a screen of 100000 columns, a backoff of 1.0e+20 seconds,
an infinite interval or a port of 99999 would each pass a type check and then break an
agent's start, a tmux session or the recording of a failure, long after the file was read.
Each is one line naming the file, the key, what was found and what to write instead.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
import typing

import pytest
import yaml

from controller import config


def error_for(text: str) -> str:
    with pytest.raises(config.ConfigError) as raised:
        config.from_mapping(yaml.safe_load(text), "controller.yaml")
    message = str(raised.value)
    assert message.startswith("controller.yaml: ") and "\n" not in message, message
    return message


def keys_of(kind: type) -> list[tuple[str, str]]:
    """Every (section, name) whose value is of this kind."""
    keys = []
    for section in dataclasses.fields(config.Config):
        if dataclasses.is_dataclass(section.default_factory):
            hints = typing.get_type_hints(section.default_factory)
            keys += [(section.name, name) for name, hint in hints.items() if hint is kind]
    return keys


# -- variable names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agent:\n  env: {'A=B': x}\n", "agent.env names 'A=B', which is not a variable name"),
        ("agent:\n  env: {'': x}\n", "agent.env names an empty name"),
        ("agent:\n  env: {1X: x}\n", "agent.env names '1X'"),
        ("agent:\n  env: {'MY VAR': x}\n", "agent.env names 'MY VAR'"),
        ("agent:\n  env: {1: x}\n", "agent.env must map names to values, e.g. {MY_VAR: value}"),
        ("agent:\n  pass_env: ['A=B']\n", "agent.pass_env names 'A=B'"),
        ("agent:\n  pass_env: ['']\n", "agent.pass_env names an empty name"),
        ("agent:\n  pass_env: [~]\n", "agent.pass_env names an empty name"),
        ("agent:\n  pass_env: [HOME, -x]\n", "agent.pass_env names '-x'"),
    ],
)
def test_a_name_that_is_no_variable_name_is_refused(text, expected):
    message = error_for(text)
    assert expected in message
    assert "letters, digits and _, not starting with a digit, e.g. MY_VAR" in message or (
        "{MY_VAR: value}" in message
    )


def test_a_value_holding_a_nul_is_refused():
    assert error_for('agent:\n  env: {A: "x\\0y"}\n').endswith(
        "agent.env gives A a value holding a NUL character (\\0), which no environment can "
        "carry; remove it from the value"
    )


def test_variable_names_of_letters_digits_and_underscores_are_fine():
    loaded = config.from_mapping(
        yaml.safe_load("agent:\n  env: {_A1: 'x=y', b: ''}\n  pass_env: [HOME, LC_ALL, _x9]\n")
    )
    assert loaded.agent.env == {"_A1": "x=y", "b": ""}
    assert loaded.agent.pass_env == ["HOME", "LC_ALL", "_x9"]


# -- ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tmux:\n  width: 100000\n", "tmux.width must be from 20 to 1000 columns; found 100000"),
        ("tmux:\n  width: 19\n", "tmux.width must be from 20 to 1000 columns; found 19"),
        ("tmux:\n  width: 1001\n", "found 1001"),
        ("tmux:\n  height: 4\n", "tmux.height must be from 5 to 1000 lines; found 4"),
        ("tmux:\n  height: 100000\n", "tmux.height must be from 5 to 1000 lines; found 100000"),
    ],
)
def test_a_screen_size_out_of_bounds_is_refused(text, expected):
    assert expected in error_for(text)


def test_the_bounds_of_the_screen_size_are_allowed():
    for width, height in ((20, 5), (1000, 1000)):
        loaded = config.from_mapping({"tmux": {"width": width, "height": height}})
        assert (loaded.tmux.width, loaded.tmux.height) == (width, height)


SECONDS = keys_of(float)


def test_every_number_of_seconds_is_checked():
    assert len(SECONDS) >= 9 and ("policy", "retry_backoff_s") in SECONDS


@pytest.mark.parametrize(("section", "name"), SECONDS)
@pytest.mark.parametrize("value", ["604801", "1.0e+20", "9" * 400])
def test_a_number_of_seconds_above_a_week_is_refused(section, name, value):
    message = error_for(f"{section}:\n  {name}: {value}\n")
    assert f"{section}.{name} must be " in message
    assert "at most 604800 seconds (one week)" in message or "to 604800 seconds" in message


@pytest.mark.parametrize(("section", "name"), SECONDS)
def test_a_week_is_allowed_for_every_number_of_seconds(section, name):
    data = {section: {name: 604800}}
    if name == "retry_backoff_s":
        data[section]["retry_backoff_max_s"] = 604800
    assert getattr(getattr(config.from_mapping(data), section), name) == 604800


# -- numbers that are not numbers ----------------------------------------------------------


@pytest.mark.parametrize(("section", "name"), SECONDS + keys_of(int))
@pytest.mark.parametrize(
    ("value", "found"),
    [
        (".inf", "found infinity"),
        ("1.0e+999", "found infinity"),
        ("-.inf", "found minus infinity"),
        (".nan", "found not-a-number (.nan)"),
    ],
)
def test_infinity_and_not_a_number_are_refused_for_every_number(section, name, value, found):
    message = error_for(f"{section}:\n  {name}: {value}\n")
    assert f"{section}.{name} must be a " in message and found in message


def test_infinity_is_told_how_yaml_came_to_it():
    assert error_for("policy:\n  stall_after_s: 1.0e+999\n").endswith(
        "policy.stall_after_s must be a number of seconds, e.g. 180; found infinity (YAML "
        "reads .inf, and a number too large such as 1.0e+999, as infinity)"
    )


# -- the API address -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://localhost:99999", "its port is not a number from 1 to 65535"),
        ("http://localhost:65536", "its port is not a number from 1 to 65535"),
        ("http://localhost:0", "its port is 0"),
        ("http://localhost:http", "its port is not a number from 1 to 65535"),
        ("http://:8000", "it names no host"),
        ("http:///repos", "it names no host"),
        ("http://[::1", "its host is not a valid address"),
        ("ftp://example.com", "it does not start with http:// or https://"),
        ("file:///etc/hosts", "it does not start with http:// or https://"),
        ("api.github.com", "it does not start with http:// or https://"),
        (
            "https://api.github.com?per_page=1",
            "it has a ?query or #fragment, which the API paths cannot follow",
        ),
        (
            "https://api.github.com/#x",
            "it has a ?query or #fragment, which the API paths cannot follow",
        ),
    ],
)
def test_an_api_address_the_client_cannot_use_is_refused(url, problem):
    message = error_for(f"github:\n  api_url: '{url}'\n")
    assert message.endswith(f"found {url!r}, and {problem}")
    assert "github.api_url must be an http:// or https:// address" in message
    assert "e.g. https://api.github.com or http://127.0.0.1:8000" in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x-access-token:ghp_SECRET@api.github.com", "https://***@api.github.com"),
        ("https://ghp_SECRET@h:8000/api", "https://***@h:8000/api"),
        ("https://me:@h", "https://***@h"),
    ],
)
def test_an_api_address_with_credentials_is_refused_without_showing_them(url, shown):
    message = error_for(f"github:\n  api_url: '{url}'\n")
    assert "SECRET" not in message
    assert message.endswith(
        f"found {shown!r}, and it holds a user name or password; the token goes in "
        "GITHUB_TOKEN, never in the address"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:ghp_SECRET@127.0.0.1:0", "http://***@127.0.0.1:0"),
        ("http://user:ghp_SECRET@127.0.0.1:99999/x", "http://***@127.0.0.1:99999/x"),
        ("http://ghp_SECRET@[::1", "http://***@[::1"),
        ("ftp://u:ghp_SECRET@h/a@b", "ftp://***@h/a@b"),
        ("u:ghp_SECRET@h", "***@h"),
    ],
)
def test_credentials_are_masked_whatever_else_is_wrong(url, shown):
    message = error_for(f"github:\n  api_url: '{url}'\n")
    assert "SECRET" not in message
    assert f"found {shown!r}, and " in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:65535", "https://h:1", "http://[::1]:8000/api/v3", "http://h:"]
)
def test_a_usable_api_address_is_fine(url):
    assert config.from_mapping({"github": {"api_url": url}}).github.api_url == url


# -- the words of the errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tmux:\n  width:\n", "tmux.width must be a whole number, e.g. 200; found nothing"),
        (
            "tmux:\n  width: abc\n",
            "tmux.width must be a whole number, e.g. 200; found the text 'abc'",
        ),
        (
            "policy:\n  max_workers: 2.5\n",
            "policy.max_workers must be a whole number, e.g. 3; found 2.5",
        ),
        ("policy:\n  max_workers: 3.0\n", "found 3.0 (write 3, without the point)"),
        (
            "policy:\n  settle_s: []\n",
            "policy.settle_s must be a number of seconds, e.g. 1; found a list",
        ),
        ("policy:\n  max_workers: on\n", "found true (YAML reads an unquoted yes, no, on or off"),
        (
            "agent:\n  pass_github_token: 'yes'\n",
            "must be true or false; found the text 'yes' (write true or false without quotes)",
        ),
        (
            "agent:\n  pass_github_token: 1\n",
            "agent.pass_github_token must be true or false; found 1",
        ),
        (
            "tmux:\n  socket: 123\n",
            "tmux.socket must be text, e.g. controller; found 123 (put it in quotes: '123')",
        ),
        (
            "repo:\n  base_branch: no\n",
            "repo.base_branch must be text; found false (YAML reads an unquoted yes, no, on or off "
            "as true or false: put it in quotes)",
        ),
        (
            "github:\n  labels: bug\n",
            "github.labels must be a list, e.g. [first, second]; found the text 'bug'",
        ),
        ("github:\n  authors: [{a: 1}]\n", "github.authors[0] must be text; found a mapping"),
        (
            "agent:\n  env: [A]\n",
            "agent.env must be a mapping of names to values, e.g. {MY_VAR: value}; found a list",
        ),
        ("agent:\n  env: {A: [1]}\n", "agent.env.A must be text; found a list"),
        (
            "github: [1, 2]\n",
            "github must be a mapping of keys to values, e.g. key: value on lines of their own; "
            "found a list",
        ),
        ("policy:\n  max_workers: 2024-05-01\n", "found the date 2024-05-01"),
        ("policy:\n  permission: 1\n", "policy.permission must be one of stall, accept; found 1"),
        (
            "github:\n  repo: abc\n",
            "github.repo must look like OWNER/NAME, e.g. octocat/hello-world; found 'abc'",
        ),
        ("tmux:\n  socket: a/b\n", "found 'a/b'"),
        (
            "repo:\n  branch_template: 'fix/{number'\n",
            "is not a valid template (a { or } without its partner)",
        ),
        (
            "policy:\n  retry_backoff_s: 2.5\n  retry_backoff_max_s: 1\n",
            "policy.retry_backoff_max_s (1) must be at least policy.retry_backoff_s (2.5); raise "
            "the one or lower the other",
        ),
    ],
)
def test_an_error_says_what_was_found_in_plain_words(text, expected):
    assert expected in error_for(text)


# Words that belong to Python, not to a YAML file.
PYTHON_WORDS = re.compile(
    r"\b(None|True|False|int|integer|float|str|string|strings|dict|NoneType|bool)\b"
    r"|, not |Errno|Traceback"
)
ODD_VALUES = [None, True, False, "abc", 2.5, -1, 0, 10**30, [1], {"a": 1}, math.inf, math.nan]


def test_no_error_uses_python_words():
    """Every key given every odd value: whatever is refused is said in plain words."""
    seen = 0
    for section in dataclasses.fields(config.Config):
        names = (
            [f.name for f in dataclasses.fields(section.default_factory)]
            if dataclasses.is_dataclass(section.default_factory)
            else [None]
        )
        for name in names:
            for value in ODD_VALUES:
                data = {section.name: {name: value} if name else value}
                try:
                    config.from_mapping(data, "controller.yaml")
                except config.ConfigError as error:
                    message = str(error)
                    seen += 1
                    assert not PYTHON_WORDS.search(message), message
                    assert message.startswith("controller.yaml: ") and "\n" not in message
                    key = f"{section.name}.{name}" if name else section.name
                    assert key in message, message
    assert seen > 200


# -- through the command ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agent:\n  env: {'A=B': x}\n", "agent.env names 'A=B'"),
        ("tmux:\n  width: 100000\n", "tmux.width must be from 20 to 1000 columns"),
        ("policy:\n  retry_backoff_s: 1.0e+20\n  retry_backoff_max_s: 1.0e+30\n", "604800"),
        ("policy:\n  retry_backoff_s: " + "9" * 400 + "\n", "policy.retry_backoff_s"),
        ("policy:\n  max_workers: " + "9" * 5000 + "\n", "line 2: policy.max_workers must be"),
        ("github:\n  created_since: 2024-02-30\n", "line 2: github.created_since must be a date"),
        ("policy:\n  stall_after_s: 1.0e+999\n", "found infinity"),
        ("github:\n  api_url: http://localhost:99999\n", "its port is not a number"),
    ],
)
def test_the_command_refuses_each_before_anything_runs(tmp_path, text, expected):
    (tmp_path / "controller.yaml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "controller", "reconcile", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.splitlines()
    assert "controller.yaml: " in line and expected in line
    assert not (tmp_path / "state").exists()
