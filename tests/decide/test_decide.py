"""The decision table, tested as plain data: no tmux, git or HTTP."""

from __future__ import annotations

import pytest

from controller import machine
from controller.decide import (
    AGENT_STATES,
    NOT_FOUND,
    Context,
    Step,
    decide,
    new_record_step,
    worker_slots,
)
from controller.observation import CIView, IssueView, Observation, PaneView, PullView
from controller.record import Record, parse_iso, utc_now_iso
from controller.screens import Reading

NOW = parse_iso("2026-12-03T12:00:00Z")


def issue(number=7, state="open", **kw) -> IssueView:
    return IssueView(
        number=number,
        title=f"issue {number}",
        url=f"https://x/{number}",
        state=state,
        author="me",
        **kw,
    )


def pane(cls=None, detail=None, dead=False, **kw) -> PaneView:
    reading = Reading(cls, detail, **kw) if cls else None
    return PaneView(session="worker-7", dead=dead, reading=reading, raw=reading)


def obs(**kw) -> Observation:
    base = Observation(now=NOW)
    for key, value in kw.items():
        setattr(base, key, value)
    return base


def ctx(**kw) -> Context:
    settings = dict(
        now=NOW,
        stall_after_s=60,
        max_nudges=2,
        max_spawns=2,
        max_ci_attempts=2,
        dialog_keys={"trust": ["Enter"]},
        permission_keys=["Enter"],
        may_start=frozenset({7}),
    )
    return Context(**{**settings, **kw})


def rec(state="working", **kw) -> Record:
    """Issue 7's record as the controller writes it: with an agent's session in the states
    that have one (a file without it would first get it written)."""
    made = {"title": "issue 7", "url": "https://x/7"}
    if state in AGENT_STATES:
        made["session"] = "worker-7"
    return Record(issue=7, state=state, **{**made, **kw})


def apply(record: Record, step: Step) -> Record:
    """What the reconciler records for a step, without the side effect."""
    fields = dict(step.fields)
    if step.dest:
        assert machine.allowed(record.state, step.dest), (record.state, step.dest)
        return record.replace(state=step.dest, forced=False, **fields)
    if step.forced_done:
        fields["forced"] = False
    return record.replace(**fields)


def test_an_eligible_open_issue_gets_a_record_and_others_do_not():
    assert new_record_step(issue()).dest == "discovered"
    assert new_record_step(issue(state="closed")) is None
    assert new_record_step(issue(eligible=False)) is None


def test_worker_slots_go_to_the_oldest_waiting_issues_up_to_the_cap():
    records = [Record(issue=n, state="discovered") for n in (3, 1, 2)]
    records.append(Record(issue=9, state="working"))
    views = {n: issue(n, created_at=f"2026-01-0{n}T00:00:00Z") for n in (1, 2, 3)}
    assert worker_slots(records, views, max_workers=3) == {1, 2}
    assert worker_slots(records, views, max_workers=1) == set()


def test_discovered_waits_for_a_slot_then_makes_a_worktree():
    record = rec("discovered")
    assert decide(record, obs(issues={7: issue()}), ctx(may_start=frozenset())) is None
    step = decide(record, obs(issues={7: issue()}), ctx())
    assert (step.action, step.dest) == ("ensure_worktree", "worktree")


def test_worktree_launches_the_agent_within_the_spawn_budget():
    step = decide(rec("worktree"), obs(issues={7: issue()}), ctx())
    assert (step.action, step.dest, step.fields["spawns"]) == ("launch", "spawned", 1)
    spent = decide(rec("worktree", spawns=2), obs(issues={7: issue()}), ctx())
    assert spent.action is None and "respawn budget spent" in spent.fields["error"]
    assert decide(apply(rec("worktree", spawns=2), spent), obs(issues={7: issue()}), ctx()) is None


def test_spawned_goes_working_once_busy_and_back_to_worktree_when_gone():
    assert decide(rec("spawned"), obs(panes={7: pane("busy")}), ctx()).dest == "working"
    assert decide(rec("spawned"), obs(), ctx()).dest == "worktree"
    dead = decide(rec("spawned"), obs(panes={7: pane("exited", dead=True)}), ctx())
    assert (dead.action, dead.dest) == ("stop_agent", "worktree")
    assert decide(rec("spawned"), obs(panes={7: pane(None)}), ctx()) is None


def test_idle_is_stalled_only_after_the_threshold():
    first = decide(rec("working"), obs(panes={7: pane("idle")}), ctx())
    assert first.dest is None and first.fields["pane"] == "idle"
    record = apply(rec("working"), first)
    assert decide(record, obs(panes={7: pane("idle")}), ctx()) is None
    later = obs(panes={7: pane("idle")})
    later.now = NOW + 61
    step = decide(record, later, ctx(now=NOW + 61))
    assert step.dest == "stalled" and step.reason == "idle for 61s"


def test_a_usage_limit_is_waited_out_not_nudged():
    reading_pane = pane("idle", reset_at=NOW + 3600)
    record = rec("working", pane="idle", pane_since=utc_now_iso(NOW - 600))
    assert decide(record, obs(panes={7: reading_pane}), ctx()) is None


def test_stalled_agents_are_nudged_within_the_budget():
    record = rec("stalled", pane="idle", pane_since=utc_now_iso(NOW - 10))
    step = decide(record, obs(panes={7: pane("idle")}), ctx())
    assert step.action == "nudge" and step.args["prompt"] == "nudge-continue"
    record = apply(record, step)
    assert record.nudges == 1
    assert decide(record, obs(panes={7: pane("idle")}), ctx()) is None  # wait after a nudge
    record = record.replace(pane_since=utc_now_iso(NOW - 61))
    second = decide(record, obs(panes={7: pane("idle")}), ctx())
    assert second.args["prompt"] == "nudge-finish"
    record = apply(record, second).replace(pane_since=utc_now_iso(NOW - 61))
    spent = decide(record, obs(panes={7: pane("idle")}), ctx())
    assert spent.action is None and "nudge budget spent" in spent.fields["error"]
    busy = decide(record, obs(panes={7: pane("busy")}), ctx())
    assert busy.dest == "working"


@pytest.mark.parametrize(
    "reading,expected",
    [
        (("dialog", "trust"), ("keys", None)),
        (("dialog", "question"), (None, "stalled")),
        (("permission", None), (None, "stalled")),
        (("login", None), (None, "stalled")),
        (("draft", None), ("submit_draft", None)),
    ],
)
def test_blocking_screens_follow_the_policy(reading, expected):
    step = decide(rec("working"), obs(panes={7: pane(*reading)}), ctx())
    assert (step.action, step.dest) == expected


@pytest.mark.parametrize("state", ["working", "stalled"])
@pytest.mark.parametrize("reading", [("permission", None), ("login", None), ("dialog", "question")])
def test_a_stall_leaves_no_retry_time_that_would_hide_it(state, reading):
    # An earlier failure's retry time, long past: the stall waits for a person now.
    record = rec(state, attempts=1, retry_at=utc_now_iso(NOW - 30), error="launch failed")
    step = decide(record, obs(panes={7: pane(*reading)}), ctx())
    assert step.fields["retry_at"] is None and step.fields["error"] != "launch failed"
    stalled = apply(record, step)
    assert decide(stalled, obs(panes={7: pane(*reading)}), ctx()) is None


def test_permission_prompts_are_accepted_only_when_configured():
    step = decide(rec("working"), obs(panes={7: pane("permission")}), ctx(permission="accept"))
    assert step.action == "keys" and step.args["keys"] == ["Enter"]


def test_a_pull_request_then_green_checks_are_recorded_in_order():
    pull = PullView(5, "https://x/pull/5", "open", False, "fix/issue-7-a", "abc1234")
    seen = obs(
        pulls={7: pull},
        ci={7: CIView("success", "abc1234")},
        panes={7: pane("busy")},
        issues={7: issue()},
    )
    record = rec("working")
    step = decide(record, seen, ctx())
    assert step.dest == "pr-open" and step.fields["pr"] == 5
    record = apply(record, step)
    assert decide(record, seen, ctx()).dest == "ci-green"


def test_merged_and_closed_in_one_observation_records_every_step():
    pull = PullView(5, "https://x/pull/5", "closed", True, "fix/issue-7-a", "abc1234")
    seen = obs(
        pulls={7: pull},
        ci={7: CIView("success", "abc1234")},
        panes={7: pane("idle")},
        issues={7: issue(state="closed", state_reason="completed")},
        worktrees={7: "/w/7"},
    )
    record = rec("working")
    path = []
    for _ in range(6):
        step = decide(record, seen, ctx())
        if step is None:
            break
        record = apply(record, step)
        if step.action == "cleanup":
            seen.panes.clear()
            seen.worktrees.clear()
        path.append(record.state)
    assert path == ["pr-open", "ci-green", "closed"]


def test_failed_checks_are_told_to_the_agent_once_per_head_and_bounded():
    pull = PullView(5, "u", "open", False, "fix/issue-7-a", "abc1234")
    failed = CIView("failure", "abc1234", (("tests", "2 failed"),))
    seen = obs(pulls={7: pull}, ci={7: failed}, panes={7: pane("idle")}, issues={7: issue()})
    record = rec(
        "pr-open",
        pr=5,
        head="abc1234",
        ci="pending",
        pane="idle",
        pane_since=utc_now_iso(NOW - 600),
    )
    step = decide(record, seen, ctx())
    assert (step.action, step.dest) == ("nudge", "working")
    assert step.args["prompt"] == "ci-failed" and "2 failed" in step.args["failed_checks"]
    record = apply(record, step)
    assert record.ci_failures == 1
    assert decide(record, seen, ctx()) is None  # the agent is fixing this head
    record = record.replace(state="pr-open", ci_failures=2, ci="pending", head="old")
    over = decide(record, seen, ctx())
    assert over.action == "comment" and over.dest is None
    assert decide(apply(record, over), seen, ctx()) is None


def test_a_new_head_after_green_goes_back_to_pending():
    pull = PullView(5, "u", "open", False, "b", "def5678")
    seen = obs(pulls={7: pull}, ci={7: CIView("pending", "def5678")}, issues={7: issue()})
    step = decide(rec("ci-green", pr=5, head="abc1234"), seen, ctx())
    assert step.dest == "pr-open" and step.fields["head"] == "def5678"


def test_closed_issues_are_cleaned_up_and_reopened_issues_start_over():
    leftover = obs(panes={7: pane("idle")}, issues={7: issue(state="closed")})
    assert decide(rec("closed"), leftover, ctx()).action == "cleanup"
    reopened = obs(issues={7: issue(state_reason="reopened")})
    step = decide(rec("closed", nudges=3), reopened, ctx())
    assert step.dest == "discovered" and step.fields["nudges"] == 0


def test_a_forced_close_sticks_until_the_issue_is_reopened_on_github_later():
    forced = rec("closed", forced=True, since="2026-12-03T11:00:00Z")
    still_open = obs(issues={7: issue(updated_at="2026-12-03T10:00:00Z")})
    assert decide(forced, still_open, ctx()) is None
    reopened = obs(issues={7: issue(state_reason="reopened", updated_at="2026-12-03T11:30:00Z")})
    assert decide(forced, reopened, ctx()).dest == "discovered"


def test_forcing_spawned_restarts_the_agent_once():
    step = decide(rec("spawned", forced=True), obs(panes={7: pane("busy")}), ctx())
    assert step.action == "launch" and step.args["restart"] is True
    record = apply(rec("spawned", forced=True), step)
    assert decide(record, obs(panes={7: pane("busy")}), ctx()).dest == "working"


def test_forcing_discovered_stops_the_agent_and_removes_the_worktree_first():
    seen = obs(panes={7: pane("busy")}, worktrees={7: "/w"}, issues={7: issue()})
    record = rec("discovered", forced=True, branch="b", worktree="/w")
    assert decide(record, seen, ctx()).action == "stop_agent"
    seen.panes.clear()
    assert decide(record, seen, ctx()).action == "remove_worktree"
    seen.worktrees.clear()
    step = decide(record, seen, ctx())
    record = apply(record, step)
    assert not record.forced and record.branch is None
    assert decide(record, seen, ctx()).action == "ensure_worktree"


@pytest.mark.parametrize("state", ["discovered", "worktree", "spawned", "working", "stalled"])
def test_an_issue_github_has_not_been_asked_about_yet_is_left_alone(state):
    # A state file written by hand after the last GitHub read: whether the issue exists
    # is not known, so no agent is started, respawned or nudged for it, forced or not.
    for forced in (False, True):
        seen = obs(unread=frozenset({7}))
        assert decide(rec(state, forced=forced), seen, ctx()) is None
        seen.unread = frozenset()
        seen.missing = frozenset({7})
        assert decide(rec(state, forced=forced), seen, ctx()).fields["error"] == NOT_FOUND


def test_nothing_starts_when_github_could_not_be_read():
    seen = obs(issues={7: issue()})
    seen.github_ok = False
    assert decide(rec("discovered"), seen, ctx()) is None


def test_an_issue_backing_off_after_an_error_waits_for_its_retry_time():
    record = rec("worktree", retry_at=utc_now_iso(NOW + 30), attempts=1)
    assert decide(record, obs(issues={7: issue()}), ctx()) is None
    record = record.replace(retry_at=utc_now_iso(NOW - 1))
    assert decide(record, obs(issues={7: issue()}), ctx()).action == "launch"


def test_a_busy_screen_frozen_past_the_hang_threshold_is_interrupted_then_nudged():
    frozen = PaneView(
        session="worker-7", reading=Reading("busy"), raw=Reading("busy"), frozen_for=700
    )
    lively = PaneView(
        session="worker-7", reading=Reading("busy"), raw=Reading("busy"), frozen_for=3
    )
    assert decide(rec("working"), obs(panes={7: lively}), ctx()) is not None  # pane noted
    assert (
        decide(
            rec("working", pane="busy", pane_since=utc_now_iso(NOW)), obs(panes={7: lively}), ctx()
        )
        is None
    )
    step = decide(rec("working"), obs(panes={7: frozen}), ctx(hang_after_s=600))
    assert step.dest == "stalled" and "no screen change" in step.reason
    stalled = apply(rec("working"), step)
    interrupt = decide(stalled, obs(panes={7: frozen}), ctx(hang_after_s=600))
    assert interrupt.action == "keys" and interrupt.args["keys"] == ["Escape"]
    assert apply(stalled, interrupt).nudges == 1
    spent = decide(stalled.replace(nudges=2), obs(panes={7: frozen}), ctx(hang_after_s=600))
    assert spent.action is None and "needs a person" in spent.fields["error"]


def test_a_reopened_issue_starts_a_fresh_run_and_ignores_its_merged_pull_request():
    merged = PullView(5, "u", "closed", True, "fix/issue-7-a", "abc1234")
    reopened = obs(
        issues={7: issue(state_reason="reopened")},
        pulls={7: merged},
        ci={7: CIView("success", "abc1234")},
    )
    old = rec("closed", branch="fix/issue-7-a", pr=5, worktree="/w", nudges=4)
    record = apply(old, decide(old, reopened, ctx()))
    assert record.state == "discovered"
    reopened.panes[7] = pane("busy")
    assert (record.branch, record.pr, record.worktree, record.nudges) == (None, None, None, 0)
    working = record.replace(
        state="working", session="worker-7", pane="busy", pane_since=utc_now_iso(NOW)
    )
    assert decide(working, reopened, ctx()) is None  # the merged PR is history


def test_a_pull_request_closed_unmerged_sends_the_agent_back_to_work_once():
    closed = PullView(5, "u", "closed", False, "fix/issue-7-a", "abc1234")
    seen = obs(
        issues={7: issue()},
        pulls={7: closed},
        ci={7: CIView("pending", "abc1234")},
        panes={7: pane("busy")},
    )
    step = decide(rec("pr-open", pr=5, head="abc1234"), seen, ctx())
    assert (step.action, step.dest) == ("nudge", "working")
    working = rec("working", pr=5, head="abc1234", pane="busy", pane_since=utc_now_iso(NOW))
    assert decide(working, seen, ctx()) is None


def test_a_prompt_left_unsent_by_a_crash_is_sent_not_typed_again():
    step = decide(rec("worktree"), obs(issues={7: issue()}, panes={7: pane("draft")}), ctx())
    assert (step.action, step.dest) == ("submit_draft", "spawned")
    assert step.fields["spawns"] == 1


def test_a_spent_start_budget_is_noted_without_resetting_the_failures():
    record = rec("worktree", attempts=3, retry_at=utc_now_iso(NOW - 1))
    step = decide(record, obs(issues={7: issue()}), ctx(max_spawns=3))
    assert step.action is None and "respawn budget spent" in step.fields["error"]
    assert "attempts" not in step.fields
    # Spent is final until a person acts: no retry is left pending, and it is said at
    # once rather than after the backoff in progress.
    assert step.fields["retry_at"] is None
    waiting = rec("worktree", attempts=3, retry_at=utc_now_iso(NOW + 40))
    assert (
        "respawn budget spent"
        in decide(waiting, obs(issues={7: issue()}), ctx(max_spawns=3)).fields["error"]
    )
    assert decide(apply(record, step), obs(issues={7: issue()}), ctx(max_spawns=3)) is None


def test_an_issue_github_does_not_know_takes_no_slot_and_says_why():
    records = [Record(issue=27, state="discovered"), Record(issue=8, state="discovered")]
    views = {8: issue(8, created_at="2026-01-01T00:00:00Z")}
    assert worker_slots(records, views, max_workers=1) == {8}
    closed = {8: issue(8, state="closed")}
    assert worker_slots(records, closed, max_workers=1) == set()

    phantom = Record(issue=27, state="discovered")
    step = decide(phantom, obs(missing=frozenset({27})), ctx())
    assert "not found on GitHub" in step.fields["error"] and step.fields["retry_at"] is None
    assert decide(apply(phantom, step), obs(missing=frozenset({27})), ctx()) is None


def test_an_issue_github_shows_again_loses_its_not_found_error_and_carries_on():
    lost = apply(rec("discovered"), decide(rec("discovered"), obs(missing=frozenset({7})), ctx()))
    assert lost.error == NOT_FOUND and lost.retry_at is None
    seen = obs(issues={7: issue()})
    step = decide(lost, seen, ctx())
    assert (step.action, step.dest, step.fields) == (None, None, {"error": None})
    found = apply(lost, step)
    assert decide(found, seen, ctx()).action == "ensure_worktree"

    # An agent at work when its issue went missing is not told anything new.
    working = rec("working", pane="busy", pane_since=utc_now_iso(NOW), error=NOT_FOUND)
    busy = obs(issues={7: issue()}, panes={7: pane("busy")})
    assert decide(working, busy, ctx()).fields == {"error": None}
    assert decide(apply(working, decide(working, busy, ctx())), busy, ctx()) is None
    # Still missing, or GitHub unread: the error stays.
    assert decide(lost, obs(missing=frozenset({7})), ctx()) is None
    unread = obs()
    unread.github_ok = False
    assert decide(lost, unread, ctx()) is None


def test_a_failed_start_waits_for_its_backoff_and_a_spent_budget_stops_it():
    draft = obs(issues={7: issue()}, panes={7: pane("draft")})
    record = rec("worktree", spawns=1)
    assert decide(record, draft, ctx(max_spawns=3)).action == "submit_draft"
    failed = record.replace(
        attempts=1,
        retry_at=utc_now_iso(NOW + 30),
        error="prompt submission failed: the draft stayed in the input box",
    )
    assert decide(failed, draft, ctx(max_spawns=3)) is None
    assert (
        decide(failed.replace(retry_at=utc_now_iso(NOW - 1)), draft, ctx(max_spawns=3)).action
        == "submit_draft"
    )

    # The failure spent the budget: said at once, and no start is tried after it.
    step = decide(failed, draft, ctx(max_spawns=2))
    assert step.action is None and step.fields["retry_at"] is None
    assert step.fields["error"] == (
        "respawn budget spent (1 started, 1 failed to start, limit 2); needs a person"
    )
    gave_up = apply(failed, step)
    assert decide(gave_up, draft, ctx(max_spawns=2)) is None
    # An agent that turns out to be at work is adopted: nobody needs to act any more.
    adopted = decide(gave_up, obs(issues={7: issue()}, panes={7: pane("busy")}), ctx(max_spawns=2))
    assert (adopted.action, adopted.dest) == (None, "spawned")
    assert apply(gave_up, adopted).error is None


def test_a_hand_written_file_gets_its_title_and_url_from_github():
    minimal = Record(issue=7, state="discovered")
    step = decide(minimal, obs(issues={7: issue()}), ctx())
    assert step.fields == {"title": "issue 7", "url": "https://x/7"} and step.action is None
    assert not step.dest
    filled = apply(minimal, step)
    assert decide(filled, obs(issues={7: issue()}), ctx()).action == "ensure_worktree"


def test_a_title_written_by_hand_stays_and_only_the_url_is_filled():
    own = Record(issue=7, state="discovered", title="my words")
    step = decide(own, obs(issues={7: issue()}), ctx())
    assert step.fields == {"url": "https://x/7"}


def test_nothing_is_filled_before_github_shows_the_issue():
    minimal = Record(issue=7, state="working")
    assert decide(minimal, obs(unread=frozenset({7})), ctx()) is None
    step = decide(minimal, obs(missing=frozenset({7})), ctx())
    assert "title" not in step.fields


def test_a_step_reads_like_an_audit_commit_subject_without_internal_names():
    # What `reconcile` prints and the log says: the states and the reason, never the
    # name of the function that carries the step out or its arguments.
    move = Step(reason="branch and worktree ready", action="ensure_worktree", dest="worktree")
    assert (
        move.describe(11, "discovered") == "#11 discovered -> worktree: branch and worktree ready"
    )
    nudge = Step(reason="nudged (1/5)", action="nudge", args={"prompt": "nudge-continue"})
    assert nudge.describe(11, "stalled") == "#11 stalled: nudged (1/5)"
    restart = Step(
        reason="forced spawned: agent restarted", action="launch", args={"restart": True}
    )
    assert "restart=" not in restart.describe(3, "spawned") and "launch" not in restart.describe(
        3, "spawned"
    )


def test_a_hand_written_file_for_an_agent_at_work_gets_its_worktree_branch_and_session():
    # The file a person wrote: issue and state; title and url were read since.
    minimal = Record(issue=7, state="working", title="issue 7", url="https://x/7")
    minimal = minimal.replace(pane="busy", pane_since=utc_now_iso(NOW))
    seen = obs(panes={7: pane("busy")})
    seen.worktrees[7] = "/w/issue-7"
    seen.branches[7] = "fix/issue-7-a"

    step = decide(minimal, seen, ctx())

    assert step.dest is None and step.action is None
    assert step.fields == {
        "worktree": "/w/issue-7",
        "branch": "fix/issue-7-a",
        "session": "worker-7",
    }
    assert step.reason == "worktree, branch, session found at work"
    assert decide(apply(minimal, step), seen, ctx()) is None
    # A step due comes first; what the file lacks is written on a quiet pass.
    idle = minimal.replace(pane="idle", pane_since=utc_now_iso(NOW - 3600))
    assert decide(idle, obs(panes={7: pane("idle")}), ctx()).dest == "stalled"


def test_checks_already_failed_when_the_pull_request_is_first_seen_are_told_to_the_agent():
    pull = PullView(5, "u", "open", False, "fix/issue-7-a", "abc1234")
    failed = CIView("failure", "abc1234", (("ci", "exit 1"),))
    seen = obs(issues={7: issue()}, pulls={7: pull}, ci={7: failed}, panes={7: pane("idle")})
    working = rec("working", branch="fix/issue-7-a", pane="idle", pane_since=utc_now_iso(NOW))

    opened = decide(working, seen, ctx())
    assert opened.dest == "pr-open" and opened.fields["ci"] == "failure"
    record = apply(working, opened)

    told = decide(record, seen, ctx())
    assert told.action == "nudge" and told.args["prompt"] == "ci-failed"
    assert told.reason == "checks failed: ci; agent told" and told.dest == "working"
    # Told once for this head: the agent is fixing it.
    assert decide(apply(record, told), seen, ctx()) is None
