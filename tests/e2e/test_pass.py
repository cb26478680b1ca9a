"""Passes of a real reconciler in this process, for what a test must time itself.

The reconciler is the one `controller run` drives, built by `open_reconciler` on the
sandbox forge, a real clone and a private tmux server; the test chooses when each pass
runs and what GitHub does in between, which a separate process would not let it.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import sys
import threading
from pathlib import Path

import pytest

from controller import config as config_module
from controller.app import open_reconciler
from controller.commands_state import needs_person
from controller.github import GitHub
from controller.record import Record
from tests.forge_fixture import forge, forge_factory  # noqa: F401
from tests.helpers import git, open_pull_request, wait_for

pytestmark = pytest.mark.e2e

AUTHOR = "alice"


def configuration(root: Path, forge_url: str, socket: str, **policy) -> config_module.Config:
    return config_module.from_mapping(
        {
            "github": {"api_url": forge_url, "repo": "sandbox/sample", "authors": [AUTHOR]},
            "repo": {"path": "./repo", "worktree_dir": "./worktrees"},
            "tmux": {"socket": socket},
            "agent": {"profile": "scripted"},
            "policy": {"settle_s": 0, **policy},
            "state_dir": "./state",
        },
        "test",
        base_dir=root,
    )


def with_scripted_agent(root: Path, forge_url: str, socket: str) -> config_module.Config:
    """The configuration above with the stand-in agent, which stays idle once prompted."""
    return config_module.from_mapping(
        {
            "github": {"api_url": forge_url, "repo": "sandbox/sample", "authors": [AUTHOR]},
            "repo": {"path": "./repo", "worktree_dir": "./worktrees"},
            "tmux": {"socket": socket},
            "agent": {
                "profile": "scripted",
                "command": shlex.join([sys.executable, "-m", "controller.sandbox.agent"]),
                "env": {"SCRIPTED_AGENT_STALL": "1"},
            },
            "policy": {"settle_s": 0, "max_workers": 1},
            "state_dir": "./state",
        },
        "test",
        base_dir=root,
    )


def run_until_started(reconciler, number: int) -> None:
    """Passes until issue `number`'s agent has started and that is recorded."""

    def started() -> bool:
        reconciler.run_pass()
        record = reconciler.store.load(number)
        return isinstance(record, Record) and bool(record.session)

    wait_for(started, timeout=60, interval=0.2, message=f"#{number}'s agent started")


def test_an_issue_github_shows_again_loses_its_not_found_error(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
    caplog,
):
    forge.create_issue(AUTHOR, "the first issue")
    state = tmp_path / "state"
    state.mkdir()
    (state / "issue-2.yaml").write_text("issue: 2\nstate: discovered\n")  # not filed yet
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=0)

    with (
        open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler,
        caplog.at_level(logging.INFO, logger="controller.reconcile"),
    ):
        reconciler.run_pass()
        lost = reconciler.store.load(2)
        assert lost.error.startswith("not found on GitHub") and needs_person(lost)
        assert caplog.text.count("#2 not found on GitHub (404)") == 1

        assert forge.create_issue(AUTHOR, "the second issue")["number"] == 2
        report = reconciler.run_pass()
        found = reconciler.store.load(2)
        assert isinstance(found, Record) and found.state == "discovered"
        assert found.error is None and not needs_person(found)
        # One step clears the error (the hand-written file's forced state, made real now
        # that the issue exists, starts it afresh); one more fills in what GitHub knows.
        assert report.steps == [
            "#2 discovered: forced discovered: starting over",
            "#2 discovered: title and url read from GitHub",
        ]
        assert found.title == "the second issue"
        assert caplog.text.count("#2 found on GitHub again") == 1
        assert reconciler.run_pass().steps == []


def test_a_stop_during_a_steps_wait_to_retry_is_not_the_issues_failure(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
    caplog,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=1)
    # A wait before a retry as long as the backoff allows: only the stop ends it.
    github = GitHub(forge.url, "sandbox/sample", forge.token(AUTHOR), backoff_s=600)
    reports = []
    with (
        github,
        open_reconciler(config, state, github=github) as reconciler,
        caplog.at_level(logging.INFO, logger="controller.reconcile"),
    ):
        reconciler.run_pass(dry_run=True)  # reads GitHub; the pass below uses what it read
        forge.inject_faults("500", 1)  # for the step's own look at the issue
        passing = threading.Thread(
            target=lambda: reports.append(reconciler.run_pass(refresh_github=False))
        )
        passing.start()
        wait_for(
            lambda: not forge.faults.queue,
            timeout=30,
            message="the step's request to fail and its retry to wait",
        )
        reconciler.stop()  # what SIGTERM does
        passing.join(timeout=30)
        assert not passing.is_alive()
        record = reconciler.store.load(number)

    (report,) = reports
    assert report.errors == []
    assert report.steps == [
        f"#{number} new -> discovered: open issue by {AUTHOR}",
        f"#{number} discovered -> worktree: branch and worktree ready "
        "[stopped: left for the next pass]",
    ]
    assert record.state == "discovered"
    assert (record.error, record.retry_at, record.attempts) == (None, None, 0)
    assert (
        f"#{number} discovered -> worktree: branch and worktree ready: not done, the "
        "controller is stopping" in caplog.text
    )
    assert "failed" not in caplog.text


def test_a_stop_during_the_github_read_is_not_an_outage(tmp_path, forge, tmux_socket, caplog):  # noqa: F811
    forge.create_issue(AUTHOR, "an issue")
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=1)
    github = GitHub(forge.url, "sandbox/sample", forge.token(AUTHOR), backoff_s=600)
    reports = []
    with (
        github,
        open_reconciler(config, tmp_path / "state", github=github) as reconciler,
        caplog.at_level(logging.INFO, logger="controller.reconcile"),
    ):
        forge.inject_faults("500", 1)  # for the pass's read of the issues
        passing = threading.Thread(target=lambda: reports.append(reconciler.run_pass()))
        passing.start()
        wait_for(
            lambda: not forge.faults.queue,
            timeout=30,
            message="the read to fail and its retry to wait",
        )
        reconciler.stop()  # what SIGTERM does
        passing.join(timeout=30)
        assert not passing.is_alive()

    (report,) = reports
    assert report.steps == [] and report.errors == []
    assert "the GitHub read was cut short" in caplog.text
    assert "github read failed" not in caplog.text


def test_a_state_file_written_by_hand_waits_for_github_to_say_the_issue_exists(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    forge.create_issue(AUTHOR, "the only issue")
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=0)
    with open_reconciler(config, tmp_path / "state", token=forge.token(AUTHOR)) as reconciler:
        reconciler.run_pass()
        # Written between two GitHub reads, for an issue that does not exist.
        (tmp_path / "state" / "issue-99.yaml").write_text("issue: 99\nstate: working\n")

        assert reconciler.run_pass(refresh_github=False).steps == []
        held = reconciler.store.load(99)
        assert held.state == "working" and held.error is None

        reconciler.run_pass()  # the read that looks #99 up
        lost = reconciler.store.load(99)
        assert lost.state == "working" and lost.error.startswith("not found on GitHub")
        assert needs_person(lost)
        assert [e.dest for e in reconciler.store.history(99)] == ["working"]


def test_a_state_file_emptied_while_its_agent_starts_leaves_no_agent_unrecorded(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        start = reconciler.sessions.start

        def start_then_empty(name, *args, **kwargs):
            started = start(name, *args, **kwargs)
            # A person truncates the file while the agent is being started.
            (state / f"issue-{number}.yaml").write_text("")
            return started

        reconciler.sessions.start = start_then_empty
        report = reconciler.run_pass()
        name = reconciler.session_name(number)
        running = reconciler.sessions.exists(name)
        loaded = reconciler.store.load(number)
        recorded = isinstance(loaded, Record) and loaded.session == name
        assert recorded or not running, (report, loaded)
        assert not running, report
        assert any("[done, not recorded]" in step for step in report.steps), report.steps

        # Once the person writes the file again, the agent starts, and that is recorded.
        reconciler.sessions.start = start
        (state / f"issue-{number}.yaml").write_text(f"issue: {number}\nstate: worktree\n")
        reconciler.run_pass()
        started = reconciler.store.load(number)
        assert started.state == "spawned" and started.session == name
        assert reconciler.sessions.exists(name)


def test_a_start_that_cannot_be_recorded_is_not_tried_again_on_every_pass(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
    caplog,
):
    # A lock a crashed git left in the audit repository fails every commit until a person
    # removes it: each start would be undone, and tried again on the next pass, each time
    # handing a new agent the issue (tokens spent for nothing).
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with (
        open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler,
        caplog.at_level(logging.INFO),
    ):
        reconciler.run_pass(dry_run=True)  # clones the repository
        reconciler.store.create(Record(issue=number, state="discovered"), "filed by hand")
        lock = state / ".git" / "HEAD.lock"
        lock.write_text("")
        starts = []
        start = reconciler.sessions.start

        def counted_start(name, *args, **kwargs):
            starts.append(name)
            return start(name, *args, **kwargs)

        reconciler.sessions.start = counted_start
        for _ in range(5):
            reconciler.run_pass()
        assert len(starts) <= 1, starts
        assert caplog.text.count("done, not recorded") == 1, caplog.text
        assert "tried again in 10s" in caplog.text

        # The lock gone, a person's edit (or the backoff's end) lets it go on.
        lock.unlink()
        path = reconciler.store.path(number)
        path.write_text(path.read_text() + "# lock removed\n")
        wait_for(
            lambda: reconciler.run_pass() and reconciler.store.load(number).state == "spawned",
            timeout=60,
            interval=0.2,
            message="the agent started and recorded",
        )


def test_an_issue_at_work_whose_file_is_being_edited_keeps_its_worker_slot(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    first = forge.create_issue(AUTHOR, "the first issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)  # max_workers: 1
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        run_until_started(reconciler, first)
        # A person's edit breaks the file for a while; the agent works on.
        reconciler.store.path(first).write_text("issue: [\n")
        second = forge.create_issue(AUTHOR, "the second issue")["number"]
        for _ in range(3):
            reconciler.run_pass()
        assert reconciler.store.load(second).state == "discovered"
        assert not reconciler.sessions.exists(reconciler.session_name(second))
        assert reconciler.sessions.exists(reconciler.session_name(first))


def test_a_hand_edit_saved_while_a_step_is_written_is_no_error(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
    caplog,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with (
        open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler,
        caplog.at_level(logging.INFO, logger="controller.reconcile"),
    ):
        start = reconciler.sessions.start

        def start_while_a_person_saves(name, *args, **kwargs):
            started = start(name, *args, **kwargs)
            path = reconciler.store.path(number)
            path.write_text(path.read_text() + "# looking at this one\n")
            return started

        reconciler.sessions.start = start_while_a_person_saves
        reconciler.run_pass()
        reconciler.sessions.start = start
        assert "was edited by hand since the controller last wrote it" in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        # The person's file stands, and the next pass carries on from it at once.
        reconciler.run_pass()
        record = reconciler.store.load(number)
        assert record.state == "spawned", record


def test_forcing_discovered_on_a_worktree_with_uncommitted_changes_starts_nothing_over(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        run_until_started(reconciler, number)
        worktree = Path(reconciler.store.load(number).worktree)
        (worktree / "half-done.txt").write_text("work in progress\n")
        reconciler.store.force(number, "discovered", "start over")

        for _ in range(4):
            reconciler.run_pass()
        record = reconciler.store.load(number)
        assert record.state == "discovered" and needs_person(record), record
        assert record.error.startswith("worktree kept: ")
        assert record.error.endswith(
            "nothing is started over: commit or discard the changes (or delete the folder), "
            "then force discovered again"
        )
        assert (worktree / "half-done.txt").exists()
        assert not reconciler.sessions.exists(reconciler.session_name(number))
        steps = [h.reason for h in reconciler.store.history(number)]
        assert "forced discovered: worktree removed" not in steps

        # The changes discarded and the state forced again: a real start-over.
        (worktree / "half-done.txt").unlink()
        reconciler.store.force(number, "discovered", "start over again")
        wait_for(
            lambda: reconciler.run_pass() and reconciler.store.load(number).state == "spawned",
            timeout=60,
            interval=0.2,
            message="the issue started over",
        )
        assert reconciler.store.load(number).error is None


def test_a_worktree_deleted_under_a_running_agent_is_made_again_and_the_agent_respawned(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        run_until_started(reconciler, number)
        started = reconciler.store.load(number)
        agent = reconciler.sessions.list()[started.session].pid
        shutil.rmtree(started.worktree)

        def respawned():
            reconciler.run_pass()
            record = reconciler.store.load(number)
            panes = reconciler.sessions.list()
            alive = started.session in panes and panes[started.session].pid != agent
            return record.state == "spawned" and alive and Path(started.worktree).is_dir()

        wait_for(respawned, timeout=60, interval=0.2, message="the agent respawned")
        reasons = [h.reason for h in reconciler.store.history(number)]
        assert "worktree folder gone; agent stopped, respawn next" in reasons
        assert reconciler.store.load(number).branch == started.branch


def test_a_state_file_written_by_hand_gets_title_and_url_but_keeps_what_was_written(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    first = forge.create_issue(AUTHOR, "the first issue")
    second = forge.create_issue(AUTHOR, "the second issue")
    state = tmp_path / "state"
    state.mkdir()
    (state / f"issue-{first['number']}.yaml").write_text(
        f"issue: {first['number']}\nstate: discovered\n"
    )
    (state / f"issue-{second['number']}.yaml").write_text(
        f"issue: {second['number']}\nstate: discovered\ntitle: my own words\n"
    )
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=0)
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        reconciler.run_pass()
        filled = reconciler.store.load(first["number"])
        kept = reconciler.store.load(second["number"])
        assert (filled.title, filled.url) == ("the first issue", first["html_url"])
        assert (kept.title, kept.url) == ("my own words", second["html_url"])
        assert reconciler.run_pass().steps == []  # filled once, not on every read


def test_a_minimal_file_written_for_an_agent_at_work_gets_its_worktree_branch_and_session(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        run_until_started(reconciler, number)
        started = reconciler.store.load(number)
        agent = reconciler.sessions.list()[started.session].pid
        # A person replaces the file with the two keys the README says are enough.
        path = reconciler.store.path(number)
        path.write_text(f"issue: {number}\nstate: working\n")

        for _ in range(4):
            reconciler.run_pass()
        record = reconciler.store.load(number)
        assert (record.worktree, record.branch, record.session) == (
            started.worktree,
            started.branch,
            started.session,
        )
        assert record.error is None, record
        assert reconciler.sessions.list()[started.session].pid == agent  # adopted, not restarted
        steps = [h.reason for h in reconciler.store.history(number)]
        assert "worktree, branch, session found at work" not in steps  # no transition
        assert "branch: " + started.branch in path.read_text()


@pytest.mark.parametrize("where", ["main clone", "other folder"])
def test_a_worktree_line_naming_a_folder_not_the_issues_own_is_refused_once(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
    caplog,
    where,
):
    number = forge.create_issue(AUTHOR, "an issue")["number"]
    state = tmp_path / "state"
    config = with_scripted_agent(tmp_path, forge.url, tmux_socket)
    with (
        open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler,
        caplog.at_level(logging.INFO, logger="controller.reconcile"),
    ):
        reconciler.run_pass(dry_run=True)  # clones the repository
        clone = tmp_path / "repo"
        folder = clone if where == "main clone" else tmp_path / "elsewhere"
        folder.mkdir(exist_ok=True)
        before = git(clone, "status", "--porcelain"), git(clone, "worktree", "list")
        path = state / f"issue-{number}.yaml"
        state.mkdir(exist_ok=True)
        path.write_text(f"issue: {number}\nstate: worktree\nworktree: {folder}\n")

        for _ in range(3):
            reconciler.run_pass()
        record = reconciler.store.load(number)
        what = "is the main clone" if where == "main clone" else "is not a git worktree of"
        assert f"worktree {folder} {what}" in record.error, record.error
        assert record.error.endswith("delete the worktree: line to let the controller make one")
        assert record.state == "worktree" and record.retry_at is None
        assert needs_person(record)
        assert not reconciler.sessions.exists(reconciler.session_name(number))
        assert (git(clone, "status", "--porcelain"), git(clone, "worktree", "list")) == before
        assert caplog.text.count(f"#{number} left alone: worktree {folder}") == 1
        assert "failed" not in caplog.text

        # The line deleted, the controller makes the worktree and carries on.
        path.write_text(path.read_text().replace(f"worktree: {folder}\n", ""))
        reconciler.run_pass()
        record = reconciler.store.load(number)
        assert record.state == "spawned" and record.error is None, record
        assert record.worktree == str(tmp_path / "worktrees" / f"issue-{number}")


def test_a_state_file_for_a_pull_requests_number_is_refused_not_worked(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
    caplog,
):
    # GitHub numbers issues and pull requests in one sequence; its issues endpoint
    # answers for a pull request too, so a mistyped number can name one.
    forge.create_issue(AUTHOR, "the only issue")
    pull = open_pull_request(forge, tmp_path / "someone", AUTHOR, "someone/notes", "Notes")
    state = tmp_path / "state"
    state.mkdir()
    (state / f"issue-{pull}.yaml").write_text(f"issue: {pull}\nstate: discovered\n")
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=5)

    with (
        open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler,
        caplog.at_level(logging.INFO, logger="controller.reconcile"),
    ):
        reconciler.run_pass()
        refused = reconciler.store.load(pull)
        assert refused.state == "discovered" and needs_person(refused)
        assert refused.error.startswith("a pull request on GitHub, not an issue")
        reconciler.run_pass()
        assert reconciler.store.load(pull).state == "discovered"
        assert not reconciler.worktrees.path_for(pull).exists()
        # The real issue was worked on meanwhile.
        assert reconciler.store.load(1).state != "discovered"
        assert [h.dest for h in reconciler.store.history(pull)] == ["discovered"]

        # What the error says to do: force it closed, then delete the file; it stays gone.
        assert f"controller force {pull} closed, then delete the file" in refused.error
        reconciler.store.force(pull, "closed")
        reconciler.run_pass()
        reconciler.store.path(pull).unlink()
        reconciler.run_pass()
        reconciler.run_pass()
        assert not reconciler.store.path(pull).exists()
    assert caplog.text.count(f"#{pull} is a pull request on GitHub, not an issue") == 1


def test_a_pass_asked_to_stop_makes_no_new_state_file(
    tmp_path,
    forge,  # noqa: F811
    tmux_socket,
):
    for n in range(3):
        forge.create_issue(AUTHOR, f"issue {n}")
    state = tmp_path / "state"
    config = configuration(tmp_path, forge.url, tmux_socket, max_workers=0)
    with open_reconciler(config, state, token=forge.token(AUTHOR)) as reconciler:
        reconciler.stop()  # as SIGTERM does, before this pass got to the new issues
        report = reconciler.run_pass()
        assert report.steps == [] and reconciler.store.load_all() == {}
