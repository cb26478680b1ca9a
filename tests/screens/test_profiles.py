"""Profiles are data: loading, inheritance and the errors a person sees."""

from __future__ import annotations

import os

import pytest

from controller.screens import ProfileError, classify, load_profile
from tests.screens import captures


def write(tmp_path, name: str, body: str):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_claude_code_launch_settings():
    profile = load_profile("claude-code")

    assert profile.command == ["claude", "--dangerously-skip-permissions"]
    assert "--continue" in profile.resume_command
    assert profile.env == {
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    assert profile.pass_env == [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_OAUTH_TOKEN",
    ]
    assert profile.setup == "claude-code"
    assert profile.keys == {"submit": "Enter", "clear": "C-u", "interrupt": "Escape"}
    assert profile.permission_accept_keys == ["Enter"]


def test_loading_is_cached():
    assert load_profile("claude-code") is load_profile("claude-code")


def test_extends_keeps_the_parents_screen_rules_and_replaces_the_command(tmp_path):
    path = write(
        tmp_path,
        "mine.yaml",
        "extends: claude-code\ncommand: [my-agent, --fast]\nenv: {EXTRA: '1'}\n",
    )

    profile = load_profile(str(path))

    assert profile.name == "mine"
    assert profile.command == ["my-agent", "--fast"]
    assert profile.env["EXTRA"] == "1" and profile.env["DISABLE_AUTOUPDATER"] == "1"
    assert profile.dialog_keys == load_profile("claude-code").dialog_keys
    screen = captures.text("05-trust-folder-dialog")
    assert str(classify(screen, profile)) == "dialog trust"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("env: {'A=B': x}", "profile.env names 'A=B', which is not a variable name"),
        ("pass_env: [HOME, 'MY VAR']", "profile.pass_env names 'MY VAR'"),
        ('env: {A: "x\\0y"}', "profile.env gives A a value holding a NUL character"),
    ],
)
def test_a_profile_variable_no_process_could_get_is_refused_when_read(tmp_path, body, expected):
    path = write(tmp_path, "mine.yaml", f"extends: claude-code\n{body}\n")

    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))

    assert str(caught.value).startswith(f"{path}: {expected}")


def test_extra_rules_come_before_the_inherited_ones(tmp_path):
    path = write(
        tmp_path,
        "strict.yaml",
        """\
extends: claude-code
extra_rules:
  - {class: dialog, detail: workspace, region: dialog, pattern: 'Accessing workspace:'}
dialog_keys: {workspace: [Escape]}
""",
    )

    profile = load_profile(str(path))

    assert str(classify(captures.text("05-trust-folder-dialog"), profile)) == "dialog workspace"
    assert profile.dialog_keys["workspace"] == ["Escape"]
    assert profile.dialog_keys["trust"] == ["Enter"]


def test_extends_resolves_a_sibling_file_first(tmp_path):
    write(tmp_path, "base.yaml", "command: [base-agent]\nscreen: {input_line: '^\\$( |$)'}\n")
    child = write(tmp_path, "child.yaml", "extends: base\nready_timeout_s: 5\n")

    profile = load_profile(str(child))

    assert (profile.command, profile.ready_timeout_s) == (["base-agent"], 5.0)
    assert classify("$ ", profile).cls == "idle"


def test_profile_edited_on_disk_is_read_again(tmp_path):
    path = write(tmp_path, "p.yaml", "command: [one]\n")
    assert load_profile(str(path)).command == ["one"]

    path.write_text("command: [two, words]\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert load_profile(str(path)).command == ["two", "words"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("command: [x]\nscren: {}\n", "unknown key 'scren'"),
        ("screen: {input: '^> '}\n", "unknown key screen.input"),
        ("rules:\n  - {class: sleepy, pattern: 'x'}\n", "rules[0].class must be one of"),
        ("rules:\n  - {class: busy, region: middle, pattern: 'x'}\n", "rules[0].region"),
        ("rules:\n  - {class: busy, pattern: '(unclosed'}\n", "rules[0].pattern is not a valid"),
        ("rules:\n  - {class: busy}\n", "rules[0] needs a pattern"),
        ("rules:\n  - {class: idle, when: sometimes, pattern: x}\n", "rules[0].when"),
        ("command: [x]\n  bad: indentation\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("pass_env: HOME\n", "pass_env must be a list of strings"),
        ("extends: nowhere-to-be-found\n", "there is no such profile"),
    ],
)
def test_bad_profiles_name_the_file_and_the_problem(tmp_path, body, message):
    path = write(tmp_path, "bad.yaml", body)

    with pytest.raises(ProfileError) as error:
        load_profile(str(path))

    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_extends_loop_is_an_error(tmp_path):
    write(tmp_path, "a.yaml", "extends: b\n")
    write(tmp_path, "b.yaml", "extends: a\n")

    with pytest.raises(ProfileError, match="loops back"):
        load_profile(str(tmp_path / "a.yaml"))


def test_unknown_profile_name_lists_the_built_in_ones():
    with pytest.raises(ProfileError, match="built-in profiles: .*claude-code.*generic"):
        load_profile("no-such-agent")


def test_a_profile_that_is_not_a_plain_small_yaml_file_is_a_one_line_error(tmp_path):
    # A named pipe would block the read forever and a link to /dev/zero would be read
    # until memory ran out; a NUL byte is not YAML.
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    endless = tmp_path / "endless.yaml"
    endless.symlink_to("/dev/zero")
    huge = write(tmp_path, "huge.yaml", "# " + "x" * (2 * 1024 * 1024) + "\n")
    nul = write(tmp_path, "nul.yaml", "description: a\nrules: []\nname: \x00\n")
    expected = {
        pipe: "is a named pipe, not a regular file, so not a profile file",
        endless: "is a character device, not a regular file, so not a profile file",
        huge: "is larger than 1 MiB, far more than a profile needs",
        nul: "line 3: not valid YAML: the character #x0000 is not allowed in YAML",
    }
    for path, words in expected.items():
        with pytest.raises(ProfileError) as error:
            load_profile(str(path))
        message = str(error.value)
        # A link is named by what it points at: that is the file that was read.
        assert message.startswith(f"{path.resolve()}:") and words in message, message
        assert "\n" not in message
