"""The configuration is checked before anything runs: each bad value names its key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from controller import config, files


def error_for(text: str) -> str:
    with pytest.raises(config.ConfigError) as raised:
        config.from_mapping(yaml.safe_load(text), "controller.yaml")
    return str(raised.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("github:\n  created_since: yesterday\n", "github.created_since must be a date"),
        ("github:\n  created_since: '2024-13-01'\n", "found '2024-13-01'"),
        ("github:\n  created_since: '20240501'\n", '(YYYY-MM-DD, such as 2024-05-01), "today"'),
        ("github:\n  api_url: api.github.com\n", "github.api_url must be an http:// or https://"),
        ("github:\n  api_url: ftp://example.com\n", "github.api_url"),
        ("github:\n  api_url: 'https://'\n", "github.api_url"),
        (
            "policy:\n  max_wrokers: 3\n",
            "unknown key policy.max_wrokers; did you mean `policy.max_workers`?",
        ),
        ("agents: {}\n", "unknown key agents; did you mean `agent`?"),
        (
            "policy:\n  permission: yes\n",
            "policy.permission must be one of stall, accept; found true (YAML reads an unquoted",
        ),
        (
            "github:\n  no_checks: no\n",
            "github.no_checks must be one of wait, success; found false",
        ),
        (
            "github:\n  poll_interval_s: 0\n",
            "github.poll_interval_s must be more than 0 and at most",
        ),
        (
            "github:\n  timeout_s: -5\n",
            "github.timeout_s must be more than 0 and at most 604800 seconds (one week); found -5",
        ),
        ("tmux:\n  poll_interval_s: -1\n", "tmux.poll_interval_s must be more than 0"),
        ("tmux:\n  width: 0\n", "tmux.width must be from 20 to 1000 columns; found 0"),
        ("policy:\n  stall_after_s: -1\n", "policy.stall_after_s must be from 0 to 604800 seconds"),
        ("policy:\n  hang_after_s: -1\n", "policy.hang_after_s must be more than 0"),
        ("policy:\n  settle_s: -1\n", "policy.settle_s must be from 0 to"),
        ("github:\n  no_checks_grace_s: -1\n", "github.no_checks_grace_s must be from 0 to"),
        (
            "policy:\n  retry_backoff_s: -1\n",
            "policy.retry_backoff_s must be from 0 to 604800 seconds (one week); found -1",
        ),
        (
            "policy:\n  retry_backoff_s: 60\n  retry_backoff_max_s: 10\n",
            "policy.retry_backoff_max_s (10) must be at least policy.retry_backoff_s (60)",
        ),
        # Templates and names fail here, not when the first issue is worked on.
        (
            "repo:\n  branch_template: 'fix/{number}-{nope}'\n",
            "repo.branch_template 'fix/{number}-{nope}' uses {nope}; it may use only {number}, "
            "{suffix}",
        ),
        ("repo:\n  branch_template: 'fix/{number:>5}'\n", "uses {number:>5}"),
        ("repo:\n  branch_template: 'fix/{number'\n", "is not a valid template"),
        ("repo:\n  branch_template: fix/issue\n", "repo.branch_template must contain {number}"),
        (
            "repo:\n  branch_template: 'fix {number}'\n",
            "gives 'fix 42' for issue 42, which is not a git branch name",
        ),
        ("repo:\n  branch_template: 'fix..{number}'\n", "not a git branch name"),
        ("tmux:\n  session_template: 'w.{number}'\n", "which is not a tmux session name"),
        ("tmux:\n  socket: a/b\n", "tmux.socket must be a plain name"),
        ("tmux:\n  socket: ''\n", "tmux.socket must be a plain name"),
        ("prompts_dir: ./no-such-folder\n", "prompts_dir './no-such-folder' is not a folder"),
        ("state_dir: ''\n", "state_dir is empty; name the folder for the state files"),
        # A quoting slip in the agent's command is found here, not at every launch.
        (
            'agent:\n  command: "sh -c \'echo"\n',
            'agent.command "sh -c \'echo" cannot be split into words (no closing quotation)',
        ),
        ("agent:\n  command: \"''\"\n", "agent.command \"''\" names no program"),
        ("agent:\n  command: '  '\n", "agent.command '  ' names no program"),
        # The token reaches an agent only through pass_github_token; asked for any other
        # way it would be dropped without a word.
        (
            "agent:\n  pass_env: [HOME, GITHUB_TOKEN]\n",
            "agent.pass_env names GITHUB_TOKEN, which never reaches the agent that way; "
            "remove it and set agent.pass_github_token: true",
        ),
        ("agent:\n  pass_env: [GH_TOKEN]\n", "agent.pass_env names GH_TOKEN"),
        ("agent:\n  env: {GH_TOKEN: abc}\n", "agent.env names GH_TOKEN"),
    ],
)
def test_a_bad_value_is_an_error_that_names_the_key(text, expected):
    message = error_for(text)
    assert message.startswith("controller.yaml: ") and expected in message


@pytest.mark.parametrize("value", ["''", "today", "2024-05-01", "'2024-05-01'"])
def test_created_since_takes_a_date_today_or_nothing(value):
    loaded = config.from_mapping(yaml.safe_load(f"github:\n  created_since: {value}\n"))
    assert loaded.github.created_since == value.strip("'")


def test_zero_is_fine_where_it_makes_sense():
    loaded = config.from_mapping(
        yaml.safe_load(
            "github:\n  no_checks_grace_s: 0\n  api_url: http://127.0.0.1:8000\n"
            "policy:\n  settle_s: 0\n  retry_backoff_s: 0\n  retry_backoff_max_s: 0\n"
            "  max_workers: 0\n"
        )
    )
    assert loaded.policy.max_workers == 0 and loaded.github.no_checks_grace_s == 0


def test_the_command_refuses_a_bad_configuration_before_anything_runs(tmp_path):
    (tmp_path / "controller.yaml").write_text("policy:\n  permission: yes\n")
    result = subprocess.run(
        [sys.executable, "-m", "controller", "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "policy.permission must be one of stall, accept" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "state").exists()


def test_a_stall_threshold_of_zero_is_allowed():
    assert config.from_mapping({"policy": {"stall_after_s": 0}}).policy.stall_after_s == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "policy:\n  max_workers: 3\n  max_workers: 1\n",
            "line 3: the key policy.max_workers appears twice (first on line 2)",
        ),
        ("policy: {}\ngithub: {}\npolicy: {}\n", "line 3: the key policy appears twice"),
    ],
)
def test_a_key_written_twice_is_an_error_not_the_last_one_silently(tmp_path, text, expected):
    path = tmp_path / "controller.yaml"
    path.write_text(text)
    with pytest.raises(config.ConfigError) as raised:
        config.load(path)
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)


def test_an_alias_of_itself_is_a_clear_error(tmp_path):
    path = tmp_path / "controller.yaml"
    path.write_text("github:\n  labels: &x [*x]\n")
    with pytest.raises(config.ConfigError, match=r"github\.labels\[0\] must be text; found a list"):
        config.load(path)


def test_nested_aliases_are_read_once_each(tmp_path):
    # Nine levels of nine aliases each: walked without memory, some 387 million nodes.
    levels = ['a0: &a0 ["x"]'] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)
    ]
    path = tmp_path / "controller.yaml"
    path.write_text("\n".join(levels) + "\n")
    with pytest.raises(config.ConfigError, match="unknown key a0"):
        config.load(path)


def test_an_agent_command_with_quotes_that_close_is_fine():
    text = "agent:\n  command: \"sh -c 'exec claude --flag'\"\n  pass_env: [HOME]\n"
    loaded = config.from_mapping(yaml.safe_load(text))
    assert loaded.agent.command == "sh -c 'exec claude --flag'"


# -- what is read as the file ------------------------------------------------------------


def load_error(path) -> str:
    with pytest.raises(config.ConfigError) as raised:
        config.load(path)
    message = str(raised.value)
    assert "\n" not in message and "::" not in message, message
    return message


@pytest.mark.parametrize(
    "text,line,problem",
    [
        (
            "github:\n  repo: a/b\n  labels: [x\x00]\n",
            3,
            "not valid YAML: the character #x0000 is not allowed in YAML",
        ),
        ("github:\n\n  repo: a/b\x07\n", 3, "the character #x0007 is not allowed"),
        ("tmux:\n  socket: a\n   bad: indent\n", 3, "mapping values are not allowed here"),
        ("github: [\n", 2, "not valid YAML: expected the node content"),
    ],
)
def test_a_yaml_error_is_one_line_with_the_file_and_line(tmp_path, text, line, problem):
    path = tmp_path / "controller.yaml"
    path.write_text(text)
    message = load_error(path)
    assert message.startswith(f"{path}: line {line}: not valid YAML: ") and problem in message


def test_a_configuration_larger_than_a_mebibyte_is_refused(tmp_path):
    path = tmp_path / "controller.yaml"
    path.write_text("# " + "x" * files.MAX_BYTES + "\n")
    assert load_error(path).startswith(f"{path}: is larger than 1 MiB")
    path.write_text("# " + "x" * (files.MAX_BYTES - 100) + "\npolicy:\n  max_workers: 2\n")
    assert config.load(path).policy.max_workers == 2


def test_a_dangling_symbolic_link_is_not_taken_for_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink("gone.yaml", "controller.yaml")
    expected = "controller.yaml: is a symbolic link to gone.yaml, which does not exist"
    assert load_error(None).startswith(expected)
    assert load_error("controller.yaml").startswith(expected)


def test_an_empty_name_is_not_the_default_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert "an empty name" in load_error("")
