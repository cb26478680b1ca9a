"""The commands, run as a person would, on a state directory written by hand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from controller.machine import STATES
from controller.sandbox import demo
from tests.helpers import git
from tests.state.conftest import commits


def controller(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def hand_made(tmp_path) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    (state / "issue-7.yaml").write_text(
        "issue: 7\nstate: working\ntitle: 'Crash: on start'\nbranch: fix/issue-7\n"
    )
    (state / "issue-8.yaml").write_text("issue: 8\nstate: wroking\n")
    (state / "issue-9.yaml").write_text("issue: 9\nstate: [\n")
    (state / "README.md").write_text("notes\n")
    return state


def test_status_lists_every_file_and_never_writes(tmp_path, hand_made):
    before = sorted(p.name for p in hand_made.iterdir())
    result = controller(tmp_path, "--state-dir", str(hand_made), "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ISSUE", "STATE", "SINCE"]
    assert any(
        line.startswith("#7 ") and "working" in line and "Crash: on start" in line for line in lines
    )
    assert any(line.startswith("#8 ") and "INVALID" in line for line in lines)
    assert any("issue-8.yaml line 2: unknown state 'wroking'" in line for line in lines)
    assert any("issue-9.yaml line" in line and "not valid YAML" in line for line in lines)
    assert sorted(p.name for p in hand_made.iterdir()) == before


def test_status_json(tmp_path, hand_made):
    result = controller(tmp_path, "--state-dir", str(hand_made), "status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["issue"]: row for row in json.loads(result.stdout)}
    assert rows[7]["state"] == "working" and rows[7]["error"] is None
    assert rows[7]["file"].endswith("issue-7.yaml") and rows[7]["branch"] == "fix/issue-7"
    assert rows[8]["state"] is None and "valid states: discovered" in rows[8]["error"]
    assert rows[9]["state"] is None and rows[9]["file"].endswith("issue-9.yaml")
    assert not (hand_made / ".git").exists() and not (hand_made / ".controller").exists()


def test_status_on_a_missing_directory_creates_nothing(tmp_path):
    result = controller(tmp_path, "--state-dir", "nowhere", "status", "--json")
    assert result.returncode == 0 and json.loads(result.stdout) == []
    assert not (tmp_path / "nowhere").exists()


def test_state_dir_comes_from_the_configuration(tmp_path, hand_made):
    (tmp_path / "controller.yaml").write_text("state_dir: state\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = controller(
        elsewhere, "--config", str(tmp_path / "controller.yaml"), "status", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert {row["issue"] for row in json.loads(result.stdout)} == {7, 8, 9}


def test_force_then_history(tmp_path, hand_made):
    result = controller(
        tmp_path,
        "--state-dir",
        str(hand_made),
        "force",
        "7",
        "stalled",
        "--reason",
        "waiting for review",
    )
    assert result.returncode == 0, result.stderr
    assert "#7 working -> stalled (forced): waiting for review" in result.stdout
    text = (hand_made / "issue-7.yaml").read_text()
    assert "state: stalled\n" in text and "forced: true\n" in text
    assert "title: 'Crash: on start'" in text
    assert commits(hand_made) == [
        ("#7 working -> stalled (forced): waiting for review", ["issue-7.yaml"])
    ]

    controller(tmp_path, "--state-dir", str(hand_made), "force", "7", "closed")
    result = controller(tmp_path, "--state-dir", str(hand_made), "history", "7")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "working -> stalled (forced)" in lines[0] and "waiting for review" in lines[0]
    assert "stalled -> closed (forced)" in lines[1] and "forced by hand" in lines[1]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  ", lines[0])
    assert (hand_made / "issue-8.yaml").read_text() == "issue: 8\nstate: wroking\n"
    assert "issue-8.yaml" not in git(hand_made, "ls-files")


def test_force_refuses_an_unknown_state_and_a_missing_file(tmp_path, hand_made):
    result = controller(tmp_path, "--state-dir", str(hand_made), "force", "7", "wroking")
    assert result.returncode == 2
    assert "unknown state 'wroking'; valid states: " + ", ".join(STATES) in result.stderr

    result = controller(tmp_path, "--state-dir", str(hand_made), "force", "12", "closed")
    assert result.returncode == 2 and "no state file for #12" in result.stderr

    result = controller(tmp_path, "--state-dir", str(hand_made), "force", "8", "closed")
    assert result.returncode == 2 and "issue-8.yaml line 2: unknown state" in result.stderr
    assert (hand_made / "issue-8.yaml").read_text() == "issue: 8\nstate: wroking\n"


@pytest.mark.parametrize("reason", ["", "   "])
def test_force_with_an_empty_reason_records_the_default(tmp_path, hand_made, reason):
    result = controller(
        tmp_path, "--state-dir", str(hand_made), "force", "7", "closed", "--reason", reason
    )
    assert result.returncode == 0, result.stderr
    assert "#7 working -> closed (forced): forced by hand" in result.stdout
    assert "reason: forced by hand\n" in (hand_made / "issue-7.yaml").read_text()
    assert commits(hand_made) == [
        ("#7 working -> closed (forced): forced by hand", ["issue-7.yaml"])
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["force", "0", "closed"],
        ["force", "--", "-3", "closed"],
        ["force", "-3", "closed"],
        ["force", "seven", "closed"],
        ["force", "7.0", "closed"],
        ["history", "0"],
    ],
)
def test_an_issue_number_must_be_a_whole_number_from_one_up(tmp_path, hand_made, args):
    before = {p.name: p.read_bytes() for p in hand_made.iterdir() if p.is_file()}
    result = controller(tmp_path, "--state-dir", str(hand_made), *args)
    assert result.returncode == 2
    assert "an issue number is a whole number from 1 up, not " in result.stderr
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in hand_made.iterdir() if p.is_file()} == before
    assert not (hand_made / ".git").exists()


def test_history_without_a_file_is_an_error(tmp_path, hand_made):
    result = controller(tmp_path, "--state-dir", str(hand_made), "history", "12")
    assert result.returncode == 2 and "no state file and no history for #12" in result.stderr
    result = controller(tmp_path, "--state-dir", str(hand_made), "history", "7")
    assert result.returncode == 0 and "no recorded transitions" in result.stdout


def test_graph_prints_the_mermaid_diagram(tmp_path):
    result = controller(tmp_path, "graph")
    assert result.returncode == 0
    assert result.stdout.startswith("stateDiagram-v2\n")
    assert "pr_open: pr-open" in result.stdout
    assert "closed --> discovered: the issue was reopened" in result.stdout


def test_history_of_a_symbolic_link_says_what_status_says(tmp_path, hand_made):
    git(hand_made, "init", "-q")
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("issue: 15\nstate: working\n")
    (hand_made / "issue-15.yaml").symlink_to(outside)
    status = controller(tmp_path, "--state-dir", str(hand_made), "status")
    said = next(line for line in status.stdout.splitlines() if "issue-15.yaml" in line)
    assert f"is a symbolic link to {outside}; a state file must be a regular file" in said

    result = controller(tmp_path, "--state-dir", str(hand_made), "history", "15")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == ["#15 has no recorded transitions yet", said]


def test_history_columns_line_up(tmp_path, hand_made):
    for state, reason in [("pr-open", "first"), ("discovered", "second"), ("closed", "third")]:
        result = controller(
            tmp_path, "--state-dir", str(hand_made), "force", "7", state, "--reason", reason
        )
        assert result.returncode == 0, result.stderr
    result = controller(tmp_path, "--state-dir", str(hand_made), "history", "7")
    lines = result.stdout.splitlines()
    assert [line.split()[-1] for line in lines] == ["first", "second", "third"]
    starts = {line.index(line.split()[-1]) for line in lines}
    assert len(starts) == 1, result.stdout
    assert "working -> pr-open (forced)  " in lines[0]


def test_status_shows_each_error_and_who_needs_a_person(tmp_path, hand_made):
    (hand_made / "issue-3.yaml").write_text(
        "issue: 3\nstate: stalled\ntitle: Slugs\nerror: nudge budget spent (5/5); needs a person\n"
    )
    (hand_made / "issue-4.yaml").write_text(
        "issue: 4\nstate: working\ntitle: Median\nerror: " + "git push failed " * 10 + "\n"
        "retry_at: 2026-12-03T16:00:00Z\n"
    )
    (hand_made / "issue-5.yaml").write_text(
        "issue: 5\nstate: closed\nerror: 'worktree kept: unpushed commits'\n"
    )
    result = controller(tmp_path, "--state-dir", str(hand_made), "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "ISSUE",
        "STATE",
        "SINCE",
        "BRANCH",
        "SESSION",
        "PR",
        "CI",
        "ERROR",
        "TITLE",
    ]
    row = {line.split()[0]: line for line in lines[1:] if line.startswith("#")}
    assert "nudge budget spent (5/5); needs a person" in row["#3"]
    assert row["#3"].rstrip().endswith("Slugs")
    assert "git push failed git push" in row["#4"] and "..." in row["#4"]
    assert len(row["#4"]) < 160
    assert "line 2: unknown state 'wroking'" in row["#8"]
    assert "worktree kept" in row["#5"]
    assert lines[-1].startswith("needs a person: #3, #8, #9 ")

    rows = {
        r["issue"]: r
        for r in json.loads(
            controller(tmp_path, "--state-dir", str(hand_made), "status", "--json").stdout
        )
    }
    assert rows[4]["error"] == ("git push failed " * 10).strip()
    assert rows[4]["retry_at"] == "2026-12-03T16:00:00Z"
    assert [n for n, r in sorted(rows.items()) if r["needs_person"]] == [3, 8, 9]


def test_the_demo_stops_for_the_issues_status_says_need_a_person(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    files = {
        3: "state: stalled\nerror: nudge budget spent (5/5); needs a person\n",
        4: "state: stalled\nerror: needs a login; a person must sign the agent in\n",
        5: "state: working\nerror: 'nudge failed: not submitted'\nretry_at: 2026-12-03T16:00:00Z\n",
        6: "state: closed\nerror: 'worktree kept: unpushed commits'\n",
        7: "state: working\n",
    }
    for number, text in files.items():
        (state / f"issue-{number}.yaml").write_text(f"issue: {number}\n{text}")
    result = controller(tmp_path, "--state-dir", str(state), "status", "--json")
    assert result.returncode == 0, result.stderr
    by_status = [row["issue"] for row in json.loads(result.stdout) if row["needs_person"]]
    states = demo.read_states(state)
    by_demo = [n for n in sorted(files) if demo._needing_a_person(states, [n])]
    assert by_status == by_demo == [3, 4]


def test_status_names_files_that_look_like_state_files_but_are_not_read(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "issue-7.yaml").write_text("issue: 7\nstate: discovered\n")
    names = ("issue-027.yaml", "issue-0.yaml", "issue-8.yml", "Issue-9.yaml", "issue--1.yaml")
    for name in (*names, "issue-99999999999.yaml", "issue-notes.yaml"):
        (state / name).write_text("issue: 1\nstate: discovered\n")
    (state / "notes.yaml").write_text("mine\n")
    result = controller(tmp_path, "--state-dir", str(state), "status")
    assert result.returncode == 0, result.stderr
    ignored = [x for x in result.stdout.splitlines() if x.startswith("ignored: ")]
    assert len(ignored) == 7, result.stdout
    assert any("issue-027.yaml" in x and "rename it issue-27.yaml" in x for x in ignored)
    assert any("issue-8.yml" in x and "rename it issue-8.yaml" in x for x in ignored)
    assert any("issue--1.yaml" in x and "rename it issue-1.yaml" in x for x in ignored)
    for name in ("issue-0.yaml", "issue-99999999999.yaml", "issue-notes.yaml"):
        (line,) = [x for x in ignored if f"/{name}:" in x]
        assert line.endswith("a state file is issue-N.yaml, N from 1 to 2147483647"), line
    assert "/notes.yaml" not in result.stdout


def test_status_and_history_show_a_hostile_title_without_what_a_terminal_acts_on(tmp_path):
    # Anyone who can file an issue writes its title: escape sequences would clear the
    # reader's screen, recolour it or set its title; a newline would break the table.
    state = tmp_path / "state"
    state.mkdir()
    title = "evil \x1b[2J\x1b[31mRED\x1b]0;pwned\x07 \u202egnp.exe\u202c title\r\nsecond line"
    (state / "issue-7.yaml").write_text(
        "issue: 7\nstate: working\ntitle: " + json.dumps(title) + "\n", encoding="utf-8"
    )
    (state / "issue-8.yaml").write_text('issue: 8\nstate: "wro\\e[31mking"\n')

    result = controller(tmp_path, "--state-dir", str(state), "status")
    assert result.returncode == 0, result.stderr
    for character in ("\x1b", "\x07", "\r", "\u202e", "\u202c"):
        assert character not in result.stdout
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("#7 ")]
    assert row.endswith(
        "evil \ufffd[2J\ufffd[31mRED\ufffd]0;pwned\ufffd \ufffdgnp.exe\ufffd title second line"
    )
    assert "unknown state 'wro\\x1b[31mking'" in result.stdout

    forced = controller(
        tmp_path, "--state-dir", str(state), "force", "7", "discovered", "--reason", "\x1b[2Jwhy"
    )
    assert forced.returncode == 0, forced.stderr
    history = controller(tmp_path, "--state-dir", str(state), "history", "7")
    assert history.returncode == 0, history.stderr
    assert "\x1b" not in history.stdout and history.stdout.rstrip().endswith("\ufffd[2Jwhy")

    assert (
        json.loads(controller(tmp_path, "--state-dir", str(state), "status", "--json").stdout)[0][
            "title"
        ]
        == title
    ), "--json keeps the text as it is"


def test_status_says_when_the_state_folder_does_not_exist(tmp_path):
    missing = tmp_path / "nonexist"
    result = controller(tmp_path, "--state-dir", str(missing), "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"no state files: {missing} does not exist (controller init or the first run makes "
        "it; check state_dir or --state-dir if it should)\n"
    )
    assert not missing.exists()
