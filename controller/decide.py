"""What to do next for one issue: a pure function of (record, observation, context).

This is where nearly all of the controller's judgement lives, so it performs no I/O
and imports no adapter: it is tested with plain data. It returns one `Step` at a
time; the reconciler carries the step out, records it, and asks again, so a chain of
transitions seen in one observation (a green PR on an issue already closed) is
recorded in the order it really happened.

A step never assumes its own success: it names a side effect and the transition to
record once that side effect is done. Every side effect it names is safe to repeat,
because the reconciler's actions adopt what already exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controller import machine
from controller.observation import IssueView, Observation, PaneView
from controller.record import Record, parse_iso, utc_now_iso

# The error of an issue GitHub does not show; cleared when it shows the issue again.
NOT_FOUND = (
    "not found on GitHub: a wrong number in a hand-written file, or an issue "
    "deleted or moved; fix the file, or force closed"
)
# The error of a state file named for a pull request's number.
NOT_AN_ISSUE = (
    "a pull request on GitHub, not an issue: a wrong number in a hand-written file; "
    "controller force {n} closed, then delete the file (a file deleted while not closed is "
    "put back)"
)
# States in which an issue holds a worker slot (a worktree and, usually, an agent).
ACTIVE_STATES = ("worktree", "spawned", "working", "stalled", "pr-open", "ci-green")
# States in which an agent is expected to be running in its session.
AGENT_STATES = ("spawned", "working", "stalled", "pr-open", "ci-green")

# How a failed action is named in a state file's error ("worktree failed: ...").
ACTION_NAMES = {
    "create": "record",
    "ensure_worktree": "worktree",
    "launch": "launch",
    "stop_agent": "stop",
    "remove_worktree": "worktree removal",
    "cleanup": "cleanup",
    "nudge": "nudge",
    "keys": "keypress",
    "submit_draft": "prompt submission",
    "comment": "comment",
}


@dataclass(frozen=True)
class Step:
    """One thing to do: an optional side effect, then an optional transition or update."""

    reason: str
    action: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    dest: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    forced_done: bool = False  # clears the record's `forced` flag once carried out

    def describe(self, number: int, state: str) -> str:
        """The step as a person reads it, in the words of an audit commit's subject:
        `#7 discovered -> worktree: branch and worktree ready`, `#7 working: nudged (1/5)`.
        """
        where = f"{state} -> {self.dest}" if self.dest else state
        return f"#{number} {where}: {self.reason}"


@dataclass(frozen=True)
class Context:
    now: float
    stall_after_s: float = 180.0
    max_nudges: int = 5
    max_spawns: int = 3
    max_ci_attempts: int = 3
    permission: str = "stall"
    hang_after_s: float = 600.0
    interrupt_keys: list[str] = field(default_factory=lambda: ["Escape"])
    dialog_keys: dict[str, list[str]] = field(default_factory=dict)
    permission_keys: list[str] = field(default_factory=list)
    # Issues in `discovered` that may take a worker slot during this pass.
    may_start: frozenset[int] = frozenset()


def worker_slots(
    records: list[Record], issues: dict[int, IssueView], max_workers: int, held: int = 0
) -> frozenset[int]:
    """The discovered issues that may start now: oldest first, up to the free slots.

    `held` counts the slots of issues whose state files cannot be read now (a person is
    editing one) but whose agent or worktree is still there: they are at work all the same.
    """
    active = sum(1 for r in records if r.state in ACTIVE_STATES)
    free = max(0, max_workers - active - held)
    # Only an issue that can start may take a slot: one GitHub does not show (a typo'd
    # hand-written file) or shows closed would hold it and never start.
    waiting = [
        r
        for r in records
        if r.state == "discovered"
        and (view := issues.get(r.issue)) is not None
        and view.state == "open"
    ]

    def age(record: Record) -> tuple[str, int]:
        view = issues.get(record.issue)
        return (view.created_at if view and view.created_at else "", record.issue)

    waiting.sort(key=age)
    return frozenset(r.issue for r in waiting[:free])


def new_record_step(view: IssueView) -> Step | None:
    """An eligible open issue that has no state file yet gets one in `discovered`."""
    if view.state != "open" or not view.eligible:
        return None
    return Step(
        reason=f"open issue by {view.author}" if view.author else "open issue",
        action="create",
        dest="discovered",
        fields={"title": view.title, "url": view.url},
    )


def decide(record: Record, obs: Observation, ctx: Context) -> Step | None:
    """The next step for one issue, or None when nothing needs doing now."""
    return _decide(record, obs, ctx) or _found_at_work(record, obs)


def _found_at_work(record: Record, obs: Observation) -> Step | None:
    """What the machine shows of an issue at work that its file does not name: a file
    written by hand (`issue:` and `state: working`) for an agent already running gets its
    worktree folder, the branch checked out there and the agent's session, once nothing
    else is to be done."""
    n, pane = record.issue, obs.panes.get(record.issue)
    found: dict[str, str] = {}
    if record.state in ACTIVE_STATES and not record.worktree and n in obs.worktrees:
        found["worktree"] = obs.worktrees[n]
    if record.state in ACTIVE_STATES and not record.branch and obs.branches.get(n):
        found["branch"] = obs.branches[n]
    if record.state in AGENT_STATES and not record.session and pane and not pane.dead:
        found["session"] = pane.session
    if not found:
        return None
    return Step(reason=f"{', '.join(found)} found at work", fields=found)


def _decide(record: Record, obs: Observation, ctx: Context) -> Step | None:
    n = record.issue
    view = obs.issues.get(n)
    pane = obs.panes.get(n)

    if record.state == "closed":
        return None if _backing_off(record, ctx.now) else _closed(record, view, pane, obs)

    if n in obs.unread:
        # Nothing is done for an issue before GitHub says whether it exists (a state
        # file written by hand for a mistyped number, say); the next read tells.
        return None

    if n in obs.pull_requests:
        return _give_up(record, NOT_AN_ISSUE.format(n=n))

    if n in obs.missing:
        # Before a forced state is made real: no agent is started for an issue that
        # GitHub does not show.
        return _give_up(record, NOT_FOUND)

    kept = record.error or ""
    if record.forced and record.state == "discovered" and kept.startswith(f"{WORKTREE_KEPT}:"):
        # A forced start-over could not remove the worktree (it holds uncommitted
        # changes): starting over in it would carry them, and its branch, into the new
        # run. Nothing is done until a person forces the state again.
        return _give_up(record, kept if kept.endswith(_KEPT_FIX) else kept + _KEPT_FIX)

    if record.forced and not _backing_off(record, ctx.now):
        step = _make_forced_state_real(record, pane, obs)
        if step:
            return step

    if record.error == NOT_FOUND and view is not None:
        # Nothing else clears this error, and left behind it would say a person is
        # needed for an issue that carries on.
        return Step(reason="found on GitHub again", fields={"error": None})

    if view is not None:
        # A file written by hand with only `issue:` and `state:` gets what GitHub knows;
        # what the person wrote is theirs and stays.
        missing = {
            name: value
            for name, value in (("title", view.title), ("url", view.url))
            if value and not getattr(record, name)
        }
        if missing:
            return Step(reason=f"{' and '.join(missing)} read from GitHub", fields=missing)

    history_step = _pull_request_progress(record, obs)
    if history_step:
        return history_step

    if view is not None and view.state == "closed":
        reason = "issue closed" + (f" ({view.state_reason})" if view.state_reason else "")
        pull = obs.pulls.get(n)
        if pull is not None and pull.merged:
            reason = f"pull request #{pull.number} merged; issue closed"
        if pane is not None or n in obs.worktrees:
            return Step(reason=reason, action="cleanup", dest="closed")
        return Step(reason=reason, dest="closed", fields=_NO_AGENT)

    if not obs.github_ok and record.state in ("discovered", "worktree"):
        return None  # never start work on an issue whose state could not be read
    if _backing_off(record, ctx.now):
        # Nothing is retried before its time; a spent budget is said at once, as waiting
        # would not change it.
        spent = record.state == "worktree" and _starts_spent(record, ctx)
        return _starts_spent_step(record, ctx) if spent else None

    handler = _HANDLERS.get(record.state)
    return handler(record, view, pane, obs, ctx) if handler else None


def _closed(
    record: Record, view: IssueView | None, pane: PaneView | None, obs: Observation
) -> Step | None:
    if pane is not None or record.issue in obs.worktrees:
        return Step(reason="agent stopped, worktree removed", action="cleanup")
    if view is None or view.state != "open" or not view.eligible:
        return None
    if record.forced:
        # A person closed it here; only a reopen on GitHub after that brings it back.
        reopened_after = view.state_reason == "reopened" and _after(view.updated_at, record.since)
        if not reopened_after:
            return None
        return Step(
            reason="issue reopened on GitHub after it was closed by hand",
            dest="discovered",
            fields=_fresh_run_fields(),
        )
    return Step(reason="issue reopened", dest="discovered", fields=_fresh_run_fields())


def _give_up(record: Record, message: str) -> Step | None:
    """Stop trying until a person acts: the error says why, and no retry is due."""
    if record.error == message and record.retry_at is None:
        return None
    return Step(reason=message, fields={"error": message, "retry_at": None})


# What a record says of an agent that is no longer there.
_NO_AGENT: dict[str, Any] = {"session": None, "pane": None, "pane_since": None}


def _fresh_run_fields() -> dict[str, Any]:
    """A new run of the agent: counters reset, the old pull request left as history."""
    return {
        "nudges": 0,
        "spawns": 0,
        "ci_failures": 0,
        "ci": None,
        "ci_failed": [],
        "head": None,
        "pane": None,
        "pane_since": None,
        "error": None,
        "retry_at": None,
        "attempts": 0,
        "branch": None,
        "worktree": None,
        "session": None,
        "pr": None,
        "pr_url": None,
    }


# How the error of a removal that kept the worktree (it held uncommitted changes) begins;
# the reconciler writes it, a forced start-over reads it.
WORKTREE_KEPT = "worktree kept"
# What a forced start-over that found uncommitted changes in the worktree asks for.
_KEPT_FIX = (
    "; nothing is started over: commit or discard the changes (or delete the folder), "
    "then force discovered again"
)


def _make_forced_state_real(record: Record, pane: PaneView | None, obs: Observation) -> Step | None:
    """A state forced by hand: bring the world to match it, once."""
    n = record.issue
    if record.state == "discovered":
        if pane is not None:
            return Step(reason="forced discovered: agent stopped", action="stop_agent")
        if n in obs.worktrees:
            return Step(reason="forced discovered: removing the worktree", action="remove_worktree")
        return Step(
            reason="forced discovered: starting over", forced_done=True, fields=_fresh_run_fields()
        )
    if record.state == "worktree" and pane is not None:
        return Step(
            reason="forced worktree: agent stopped before a respawn",
            action="stop_agent",
            forced_done=True,
        )
    if record.state == "spawned":
        return Step(
            reason="forced spawned: agent restarted",
            action="launch",
            args={"restart": True},
            forced_done=True,
            fields={"spawns": record.spawns + 1, "pane": None, "pane_since": None},
        )
    return Step(reason=f"forced {record.state} accepted", forced_done=True)


def _pull_request_progress(record: Record, obs: Observation) -> Step | None:
    """Transitions that only record what GitHub shows: a PR appeared, CI went green."""
    n = record.issue
    pull = obs.pulls.get(n)
    ci = obs.ci.get(n)
    if pull is None:
        return None
    view = obs.issues.get(n)
    if pull.state == "closed" and (view is None or view.state == "open"):
        # A closed pull request on an open issue is history (merged before a reopen, or
        # closed unmerged and the agent told): the agent's next one is what counts.
        return None
    pr_fields = {"pr": pull.number, "pr_url": pull.url, "head": pull.head_sha}
    if record.state in ("spawned", "working", "stalled"):
        known = record.pr == pull.number
        if known and record.head == pull.head_sha and record.ci == "failure":
            return None  # the agent is fixing the checks; wait for a new head
        reason = (
            f"new head {pull.head_sha[:7]} pushed to #{pull.number}"
            if known
            else f"pull request #{pull.number} opened from {pull.head_ref}"
        )
        return Step(
            reason=reason,
            dest="pr-open",
            # The failed checks of an earlier head were told about; this head's not yet.
            fields={**pr_fields, "ci": ci.status if ci else None, "ci_failed": [], "error": None},
        )
    if ci is None or ci.head_sha != pull.head_sha:
        return None
    if record.state == "pr-open" and ci.status == "success":
        return Step(
            reason=f"all checks passed on {pull.head_sha[:7]}",
            dest="ci-green",
            fields={**pr_fields, "ci": "success", "ci_failed": []},
        )
    if record.state == "ci-green" and ci.status == "pending":
        return Step(
            reason=f"new head {pull.head_sha[:7]}, checks pending",
            dest="pr-open",
            fields={**pr_fields, "ci": "pending"},
        )
    return None


def _backing_off(record: Record, now: float) -> bool:
    return bool(record.retry_at) and parse_iso(record.retry_at) > now


def _after(first: str | None, second: str | None) -> bool:
    if not first:
        return False
    if not second:
        return True
    return parse_iso(first) > parse_iso(second)


def _discovered(record, view, pane, obs, ctx) -> Step | None:
    if view is None or view.state != "open":
        return None
    if record.issue not in ctx.may_start:
        return None
    pull = obs.pulls.get(record.issue)
    if pull is not None and pull.state == "open":
        # Someone already opened a pull request for this issue: work on its branch, so
        # the agent adds to that pull request instead of opening a second one.
        return Step(
            reason=f"worktree on {pull.head_ref}, the branch of pull request #{pull.number}",
            action="ensure_worktree",
            args={"branch": pull.head_ref},
            dest="worktree",
        )
    return Step(reason="branch and worktree ready", action="ensure_worktree", dest="worktree")


def _worktree(record, view, pane, obs, ctx) -> Step | None:
    if view is None or view.state != "open":
        return None
    live = pane is not None and not pane.dead and pane.reading is not None
    if live and pane.reading.cls == "busy":
        # Nothing to do but note it, whatever the budget: the agent works after all.
        return Step(
            reason="adopted a running agent",
            dest="spawned",
            fields={"pane": str(pane.reading), "error": None},
        )
    if _starts_spent(record, ctx):
        return _starts_spent_step(record, ctx)
    if live and pane.reading.cls == "draft":
        # The controller stopped between pasting the prompt and pressing Enter: the text
        # in the box is that prompt, so it is sent rather than typed again. Sending it is
        # a start, and tried only within the budget, as a failing one would be retried
        # on every pass otherwise.
        return Step(
            reason="adopted an agent with the prompt unsent in its box; sent it",
            action="submit_draft",
            dest="spawned",
            fields={"spawns": record.spawns + 1, "pane": None, "pane_since": None, "error": None},
        )
    resume = record.spawns > 0
    return Step(
        reason="agent started and prompt submitted" + (" (resumed)" if resume else ""),
        action="launch",
        args={"resume": resume, "restart": bool(pane and pane.dead)},
        dest="spawned",
        fields={"spawns": record.spawns + 1, "pane": None, "pane_since": None, "error": None},
    )


def _starts_spent(record: Record, ctx: Context) -> bool:
    # Starts that failed count too, so an agent that cannot start is not retried forever.
    return record.spawns + record.attempts >= ctx.max_spawns


def _starts_spent_step(record: Record, ctx: Context) -> Step | None:
    message = (
        f"respawn budget spent ({record.spawns} started, {record.attempts} failed "
        f"to start, limit {ctx.max_spawns}); needs a person"
    )
    return _give_up(record, message)


def _agent_gone(record: Record, pane: PaneView | None, obs: Observation) -> Step | None:
    if pane is None:
        return Step(reason="agent session is gone; respawn next", dest="worktree")
    if pane.dead or (pane.reading is not None and pane.reading.cls == "exited"):
        detail = f" ({pane.reading.detail})" if pane.reading and pane.reading.detail else ""
        return Step(
            reason=f"agent exited{detail}; respawn next", action="stop_agent", dest="worktree"
        )
    if record.worktree and record.issue not in obs.worktrees:
        # Deleted by hand under a running agent: it works in a folder that is gone.
        # The respawn makes the worktree again (from its branch) and starts it there.
        return Step(
            reason="worktree folder gone; agent stopped, respawn next",
            action="stop_agent",
            dest="worktree",
        )
    return None


def _pane_fields(record: Record, pane: PaneView, now: float) -> dict[str, Any]:
    text = str(pane.reading)
    if record.pane == text and record.pane_since:
        return {}
    return {"pane": text, "pane_since": utc_now_iso(now)}


def _idle_for(record: Record, pane: PaneView, now: float) -> float:
    if record.pane == str(pane.reading) and record.pane_since:
        return max(0.0, now - parse_iso(record.pane_since))
    return 0.0


def _blocked(record, pane, ctx, dest: str | None) -> Step | None:
    """Readings that need a key, a person, or a wait, whatever the state."""
    reading = pane.reading
    if reading.cls == "dialog":
        keys = ctx.dialog_keys.get(reading.detail or "")
        if keys:
            return Step(
                reason=f"answered the {reading.detail} dialog",
                action="keys",
                args={"keys": list(keys)},
            )
        return _stall(
            record,
            dest,
            f"blocked on a {reading.detail or 'menu'} dialog; needs a person",
            pane,
            ctx,
        )
    if reading.cls == "draft":
        return Step(reason="submitted text left in the input box", action="submit_draft")
    if reading.cls == "login":
        return _stall(record, dest, "needs a login; a person must sign the agent in", pane, ctx)
    if reading.cls == "permission":
        if ctx.permission == "accept" and ctx.permission_keys:
            return Step(
                reason="accepted a permission prompt (policy: accept)",
                action="keys",
                args={"keys": list(ctx.permission_keys)},
            )
        return _stall(record, dest, "waiting on a permission prompt (policy: stall)", pane, ctx)
    return None


def _stall(record: Record, dest: str | None, why: str, pane: PaneView, ctx: Context) -> Step | None:
    # Waiting for a person: a retry time left by an earlier failure would make the
    # stall read as something the controller retries by itself.
    fields = {**_pane_fields(record, pane, ctx.now), "error": why, "retry_at": None}
    if dest:
        return Step(reason=why, dest=dest, fields=fields)
    if record.error != why or record.retry_at or fields.keys() - {"error", "retry_at"}:
        return Step(reason=why, fields=fields)
    return None


def _usage_limited(pane: PaneView, now: float) -> bool:
    reset_at = getattr(pane.reading, "reset_at", None)
    return reset_at is not None and reset_at > now


def _spawned(record, view, pane, obs, ctx) -> Step | None:
    gone = _agent_gone(record, pane, obs)
    if gone or pane.reading is None:
        return gone
    if pane.reading.cls == "busy":
        return Step(
            reason="agent is working", dest="working", fields=_pane_fields(record, pane, ctx.now)
        )
    blocked = _blocked(record, pane, ctx, "stalled")
    if blocked:
        return blocked
    return _idle_rules(record, pane, ctx, stalled_dest="stalled")


def _hung(pane: PaneView, ctx: Context) -> bool:
    return pane.reading.cls == "busy" and pane.frozen_for >= ctx.hang_after_s


def _working(record, view, pane, obs, ctx) -> Step | None:
    gone = _agent_gone(record, pane, obs)
    if gone or pane.reading is None:
        return gone
    if _hung(pane, ctx):
        return Step(
            reason=f"busy with no screen change for {pane.frozen_for:.0f}s",
            dest="stalled",
            fields=_pane_fields(record, pane, ctx.now),
        )
    if pane.reading.cls == "busy":
        fields = _pane_fields(record, pane, ctx.now)
        return Step(reason="agent is working", fields=fields) if fields else None
    blocked = _blocked(record, pane, ctx, "stalled")
    if blocked:
        return blocked
    return _idle_rules(record, pane, ctx, stalled_dest="stalled")


def _idle_rules(record, pane, ctx, stalled_dest: str) -> Step | None:
    fields = _pane_fields(record, pane, ctx.now)
    if fields:
        return Step(reason=f"agent is {pane.reading}", fields=fields)
    if _usage_limited(pane, ctx.now):
        return None
    idle = _idle_for(record, pane, ctx.now)
    if idle >= ctx.stall_after_s:
        return Step(reason=f"idle for {idle:.0f}s", dest=stalled_dest)
    return None


def _stalled(record, view, pane, obs, ctx) -> Step | None:
    gone = _agent_gone(record, pane, obs)
    if gone or pane.reading is None:
        return gone
    if _hung(pane, ctx):
        if record.nudges >= ctx.max_nudges:
            message = f"hung, and the nudge budget is spent ({record.nudges}); needs a person"
            return _give_up(record, message)
        return Step(
            reason=f"interrupted a hung agent ({record.nudges + 1}/{ctx.max_nudges})",
            action="keys",
            args={"keys": list(ctx.interrupt_keys)},
            fields={"nudges": record.nudges + 1, "pane_since": utc_now_iso(ctx.now)},
        )
    if pane.reading.cls == "busy":
        return Step(
            reason="agent is working again",
            dest="working",
            fields={**_pane_fields(record, pane, ctx.now), "error": None},
        )
    blocked = _blocked(record, pane, ctx, None)
    if blocked or pane.reading.cls != "idle":
        return blocked
    fields = _pane_fields(record, pane, ctx.now)
    if fields:
        return Step(reason=f"agent is {pane.reading}", fields=fields)
    if _usage_limited(pane, ctx.now):
        return None
    if _idle_for(record, pane, ctx.now) < ctx.stall_after_s and record.nudges > 0:
        return None
    if record.nudges >= ctx.max_nudges:
        message = f"nudge budget spent ({record.nudges}/{ctx.max_nudges}); needs a person"
        return _give_up(record, message)
    prompt = "nudge-continue" if record.nudges % 2 == 0 else "nudge-finish"
    return Step(
        reason=f"nudged ({record.nudges + 1}/{ctx.max_nudges})",
        action="nudge",
        args={"prompt": prompt},
        fields={"nudges": record.nudges + 1, "pane_since": utc_now_iso(ctx.now)},
    )


def _pr_open(record, view, pane, obs, ctx) -> Step | None:
    n = record.issue
    pull = obs.pulls.get(n)
    ci = obs.ci.get(n)
    if pull is None or ci is None or ci.head_sha != pull.head_sha:
        return None
    if pull.state == "closed" and not pull.merged:
        return Step(
            reason=f"pull request #{pull.number} closed without merging; agent told",
            action="nudge",
            args={"prompt": "nudge-finish"},
            dest="working",
        )
    # Told already: the failure step records the failed checks of this head. A record
    # that reads `ci: failure` without them was written when the pull request was first
    # seen with its checks already failed, and the agent has not been told.
    told = record.head == pull.head_sha and record.ci == "failure" and bool(record.ci_failed)
    if ci.status != "failure" or told:
        if ci.status != record.ci or record.head != pull.head_sha:
            return Step(
                reason=f"checks {ci.status} on {pull.head_sha[:7]}",
                fields={"ci": ci.status, "head": pull.head_sha},
            )
        return None
    names = [name for name, _ in ci.failed] or ["(unnamed check)"]
    failures = record.ci_failures + 1
    fields = {"ci": "failure", "head": pull.head_sha, "ci_failed": names, "ci_failures": failures}
    if failures > ctx.max_ci_attempts:
        message = f"checks failed {failures} times (limit {ctx.max_ci_attempts}); left for a person"
        return Step(
            reason=message,
            action="comment",
            args={"text": _give_up_comment(n, names, ctx.max_ci_attempts)},
            fields={**fields, "error": message},
        )
    summaries = "\n\n".join(f"### {name}\n{summary}".rstrip() for name, summary in ci.failed)
    if pane is None or pane.dead:
        return Step(
            reason=f"checks failed: {', '.join(names)}; agent respawned to fix them",
            dest="worktree",
            fields=fields,
        )
    return Step(
        reason=f"checks failed: {', '.join(names)}; agent told",
        action="nudge",
        args={"prompt": "ci-failed", "failed_checks": summaries or ", ".join(names)},
        dest="working",
        fields={**fields, "pane_since": utc_now_iso(ctx.now)},
    )


def _give_up_comment(number: int, names: list[str], attempts: int) -> str:
    return (
        f"The controller stopped asking the agent to fix the checks on #{number} after "
        f"{attempts} attempts (failing: {', '.join(names)}). A person needs to look; "
        "edit the issue's state file or run `controller force` to continue."
    )


def _ci_green(record, view, pane, obs, ctx) -> Step | None:
    # Green checks can only turn red on a new head: handled as from pr-open.
    ci = obs.ci.get(record.issue)
    if ci is not None and ci.status == "failure":
        return _pr_open(record.replace(state="pr-open"), view, pane, obs, ctx)
    return None


_HANDLERS = {
    "discovered": _discovered,
    "worktree": _worktree,
    "spawned": _spawned,
    "working": _working,
    "stalled": _stalled,
    "pr-open": _pr_open,
    "ci-green": _ci_green,
}

assert set(_HANDLERS) | {"closed"} == set(machine.STATES)
