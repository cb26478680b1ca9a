"""Credentials on an agent's screen are masked wherever the controller shows them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.masking import MASK, mask
from controller.sessions import Sessions
from tests.helpers import wait_for

# Built in pieces, so no file of the project holds a key-shaped string whole.
GITHUB = "ghp_" + "A1b2" * 9
FINE_GRAINED = "github_pat_" + "11ABCDEFG0" * 4
ANTHROPIC = "sk-ant-api03-" + "x9Y8" * 10
AWS = "AKIA" + "Q" * 16


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"export GITHUB_TOKEN={GITHUB}", "export GITHUB_TOKEN=***"),
        (f"token {GITHUB} here", f"token {MASK} here"),
        (f"using {GITHUB}.", f"using ghp_{MASK}."),
        (f"pat: {FINE_GRAINED}", f"pat: github_pat_{MASK}"),
        (f"ANTHROPIC_API_KEY={ANTHROPIC}", f"ANTHROPIC_API_KEY={MASK}"),
        (f"key {ANTHROPIC} ok", f"key sk-ant-{MASK} ok"),
        (f"id {AWS} end", f"id AKIA{MASK} end"),
        (
            "curl -H 'Authorization: Bearer abc.def-ghi' x",
            f"curl -H 'Authorization: Bearer {MASK}' x",
        ),
        (
            "git clone https://bot:hunter2hunter2@example.com/o/r",
            f"git clone https://bot:{MASK}@example.com/o/r",
        ),
        ("password = 'correcthorse battery'", f"password = '{MASK} battery'"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\nNzaC1\n"
            "-----END OPENSSH PRIVATE KEY-----\n$",
            f"-----BEGIN OPENSSH PRIVATE KEY-----{MASK}\n$",
        ),
    ],
)
def test_what_looks_like_a_credential_is_masked(text, shown):
    assert mask(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "Tokens: 1234 · esc to interrupt",
        "> fix the tokenizer: skip spaces",
        "✻ Thinking… (12s · ↓ 340 tokens)",
        "https://github.com/demo/textkit/pull/3",
        "ok: sk-short and ghp_short stay",
        "the password prompt is gone",
    ],
)
def test_ordinary_agent_text_is_left_alone(text):
    assert mask(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("password=hunter2", f"password={MASK}"),
        ("PASSWORD=hunter2", f"PASSWORD={MASK}"),
        ("export PASSWORD=hunter2", f"export PASSWORD={MASK}"),
        ("DB_PASSWORD=hunter2", f"DB_PASSWORD={MASK}"),
        ("password: hunter2", f"password: {MASK}"),
        ('{"password": "hunter2"}', f'{{"password": "{MASK}"}}'),
        ("client_secret='s3'", f"client_secret='{MASK}'"),
        ("api_key = x1", f"api_key = {MASK}"),
        ("GPG_PASSPHRASE=abc", f"GPG_PASSPHRASE={MASK}"),
        ("https://ci/hook?token=q7", f"https://ci/hook?token={MASK}"),
    ],
)
def test_a_short_value_of_a_secret_name_is_masked(text, shown):
    assert mask(text) == shown
    assert "hunter2" not in mask(text)


@pytest.mark.parametrize(
    "text",
    [
        "password=",
        "Password: ",
        "max_tokens: 4096 tokens_used: 12",
        "secretary: Bob",
        "the token count is 5",
    ],
)
def test_a_secret_name_without_a_value_is_left_alone(text):
    assert mask(text) == text


def test_a_token_a_program_broke_over_lines_is_masked_whole():
    token = "github_pat_11ABC" + "dEf4GhI7jK" * 7 + "xyz0123"
    # Drawn by the program itself: indented, in a box, over three lines.
    screen = f"  ⎿  {'x' * 40} {token[:30]}\n     {token[30:70]}\n     {token[70:]} done"
    assert mask(screen) == f"  ⎿  {'x' * 40} github_pat_{MASK}\n     {MASK}\n     {MASK} done"
    boxed = f"│ key {token[:40]} │\n│ {token[40:]}   │"
    assert mask(boxed) == f"│ key github_pat_{MASK} │\n│ {MASK}   │"
    # The line after a masked value that ended its line is kept when it is words.
    assert mask("GITHUB_TOKEN=***\nexport X=1") == "GITHUB_TOKEN=***\nexport X=1"


def test_a_known_secret_is_masked_whatever_its_shape():
    assert (
        mask("value Zq81-not-shaped-like-a-key end", ["Zq81-not-shaped-like-a-key"])
        == f"value {MASK} end"
    )
    # A value too short to be a secret would mask ordinary words.
    assert mask("the cat sat", ["cat"]) == "the cat sat"


def test_peek_masks_the_screen_and_raw_shows_it(tmux_socket, tmp_path):
    config_path = tmp_path / "controller.yaml"
    config_path.write_text(yaml.safe_dump({"tmux": {"socket": tmux_socket}}))
    sessions = Sessions(tmux_socket, width=200, height=20)
    script = f"print('GITHUB_TOKEN={GITHUB}'); print('key {ANTHROPIC} shown'); input()"
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    sessions.start("worker-4", tmp_path, [sys.executable, "-c", script], env)
    wait_for(lambda: "shown" in sessions.capture("worker-4"), message="the secrets on screen")

    def peek(*extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "controller", "--config", str(config_path), "peek", "4", *extra],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    masked = peek()
    assert GITHUB not in masked and ANTHROPIC not in masked
    assert f"GITHUB_TOKEN={MASK}" in masked and f"key sk-ant-{MASK} shown" in masked
    raw = peek("--raw")
    assert GITHUB in raw and ANTHROPIC in raw


@pytest.mark.parametrize(("width", "before"), [(200, 150), (80, 50)])
def test_peek_masks_a_token_the_terminal_wrapped_onto_the_next_line(
    tmux_socket, tmp_path, width, before
):
    # A fine-grained token is 93 characters: it crosses the pane's edge, and the tail
    # on the next screen line no longer looks like a token by itself.
    token = "github_pat_11ABC" + "dEf4GhI7jK" * 7 + "xyz0123"
    config_path = tmp_path / "controller.yaml"
    config_path.write_text(yaml.safe_dump({"tmux": {"socket": tmux_socket}}))
    sessions = Sessions(tmux_socket, width=width, height=20)
    script = f"print('x' * {before} + ' {token}'); print('end of output'); input()"
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    sessions.start("worker-5", tmp_path, [sys.executable, "-c", script], env)
    wait_for(lambda: "end of output" in sessions.capture("worker-5"), message="the token")
    assert token not in sessions.capture("worker-5")  # the terminal did wrap it

    done = subprocess.run(
        [sys.executable, "-m", "controller", "--config", str(config_path), "peek", "5"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    secret = token.removeprefix("github_pat_")
    pieces = {secret[i : i + 8] for i in range(len(secret) - 7)}
    assert not [piece for piece in pieces if piece in done.stdout], done.stdout
    assert f"{'x' * before} github_pat_{MASK}\nend of output" in done.stdout


def test_peek_masks_a_token_whose_start_scrolled_above_the_screen(tmux_socket, tmp_path):
    token = "github_pat_11ABC" + "dEf4GhI7jK" * 7 + "xyz0123"
    config_path = tmp_path / "controller.yaml"
    config_path.write_text(yaml.safe_dump({"tmux": {"socket": tmux_socket}}))
    sessions = Sessions(tmux_socket, width=80, height=10)
    # 50 + 1 + 93 characters: two rows; then enough lines that only the second is on screen.
    script = (
        f"print('x' * 50 + ' {token}'); print('\\n'.join(f'line {{i}}' for i in range(9)),"
        " end='', flush=True); input()"
    )
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "TERM": "xterm-256color"}
    sessions.start("worker-7", tmp_path, [sys.executable, "-c", script], env)
    wait_for(lambda: "line 8" in sessions.capture("worker-7"), message="the lines")
    top = sessions.capture("worker-7").splitlines()[0]
    assert top and top in token and "github_pat_" not in top  # only the tail is on screen

    done = subprocess.run(
        [sys.executable, "-m", "controller", "--config", str(config_path), "peek", "7"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert top not in done.stdout and "xyz0123" not in done.stdout
    assert done.stdout.startswith(f"{'x' * 50} github_pat_{MASK}\nline 0\n")
    assert done.stdout.endswith("line 8\n")
