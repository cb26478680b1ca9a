"""One pass of the controller: observe everything, decide per issue, act, record.

The pass is level-triggered: it never trusts what it did last time, only what it
sees now, so a crash at any point is repaired by the next pass. Actions adopt what
already exists (branch, worktree, session, pull request) and re-check, right before
a side effect, that the issue is still open and was not closed by hand meanwhile.
One issue's failure is recorded on that issue, with a retry time, and never stops
the others. This module wires adapters together; the judgement is in `decide`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller import decide as decisions
from controller import delivery, launch, processes, prompts, screens
from controller.config import Config
from controller.faults import crash_point
from controller.github import GitHubError, Stopped
from controller.observation import CIView, IssueView, Observation, PaneView, PullView
from controller.record import Record, parse_iso, utc_now_iso
from controller.store import ConcurrentEdit, StoreError
from controller.worktrees import WORKTREE_FIX

log = logging.getLogger(__name__)

MAX_STEPS_PER_ISSUE = 12
# Timestamps this far ahead of now can only come from a clock that was set back.
CLOCK_SLACK_S = 5.0


def steady_clock():
    """Wall-clock seconds that never jump within this process.

    Read once from the wall clock, then advanced by the monotonic clock, so setting the
    machine's time back or forward while the controller runs neither fires a stall or
    backoff timer early nor holds it back; times written to state files stay readable.
    """
    wall, start = time.time(), time.monotonic()
    return lambda: wall + (time.monotonic() - start)


class ActionFailed(Exception):
    """A side effect did not take; the message is recorded on the issue."""


@dataclass
class PassReport:
    steps: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    github_error: str | None = None


@dataclass
class _GitHubSnapshot:
    at: float
    issues: dict[int, IssueView]
    pulls: dict[int, PullView]
    ci: dict[int, CIView]
    bodies: dict[int, str]
    missing: frozenset[int] = frozenset()
    pull_requests: frozenset[int] = frozenset()


class Reconciler:
    """Holds the adapters for the life of a `controller run` (or one `reconcile`)."""

    def __init__(
        self,
        config: Config,
        store,
        github,
        sessions,
        worktrees,
        profile,
        *,
        settle: bool = True,
        clock=None,
        token: str | None = None,
    ):
        self.config = config
        self.store = store
        self.github = github
        self.sessions = sessions
        self.worktrees = worktrees
        self.profile = profile
        self.clock = clock or steady_clock()
        self.token = token
        self.settler = screens.Settler(config.policy.settle_s) if settle else None
        self._snapshot: _GitHubSnapshot | None = None
        self._viewer: str | None = None
        self._stopping = False
        # What was last said about each invalid file or unreadable issue, so a problem
        # that persists is logged once, not on every pass.
        self._reported: dict[object, str] = {}
        self._last_screens: dict[str, tuple[tuple, screens.Reading]] = {}
        self._github_retry_at: float | None = None  # set by a rate limit: no reads before
        self._github_failure: str | None = None  # the last failed read's error, while failing
        # The agents' sessions alive at the last look, by name.
        self._live_sessions: set[str] = set()
        # Each issue whose last step was done but not recorded: the error said, how many
        # times in a row, and when (steady clock) it may be tried again; a person's edit
        # of its file lets it be tried at once.
        self._unrecorded: dict[int, tuple[str, int, float]] = {}
        # Whether each (issue, worktree, branch) written names a folder not the issue's own.
        self._worktree_checked: dict[tuple, str | None] = {}

    # -- observe -----------------------------------------------------------------

    def _say_once(self, key: object, message: str) -> None:
        if self._reported.get(key) != message:
            self._reported[key] = message
            log.error("%s", message)

    def session_name(self, number: int) -> str:
        return self.config.tmux.session_template.format(number=number)

    def _authors(self) -> list[str]:
        if self.config.github.authors:
            return list(self.config.github.authors)
        if self._viewer is None:
            self._viewer = self.github.viewer()
        return [self._viewer]

    def _observe_github(self, records: dict[int, Record], now: float) -> _GitHubSnapshot:
        cfg = self.config.github
        authors = self._authors()
        issues: dict[int, IssueView] = {}
        bodies: dict[int, str] = {}
        missing: set[int] = set()
        pull_requests: set[int] = set()
        for issue in self.github.open_issues(
            authors=authors,
            labels=cfg.labels,
            exclude_labels=cfg.exclude_labels,
            created_since=cfg.created_since,
        ):
            issues[issue.number] = _issue_view(issue, eligible=True)
            bodies[issue.number] = issue.body or ""
        for number, record in records.items():
            if number in issues or record.state == "closed":
                continue
            try:
                issue = self.github.issue(number)
            except GitHubError as error:
                if error.status not in (404, 410):
                    raise
                # One state file for an issue GitHub does not show (deleted, moved, or a
                # typo in a hand-written file) must not stop the reads of all the others.
                self._say_once(
                    ("issue", number),
                    f"#{number} not found on GitHub ({error.status}); left alone until it is",
                )
                missing.add(number)
                continue
            if issue.pull_request:
                self._say_once(
                    ("issue", number),
                    f"#{number} is a pull request on GitHub, not an issue; left alone",
                )
                pull_requests.add(number)
                continue
            issues[number] = _issue_view(issue, eligible=issue.author in authors)
            bodies[number] = issue.body or ""
        # An issue said missing and now seen is forgotten, so going missing again is said.
        for kind, number in [key for key in self._reported if isinstance(key, tuple)]:
            if kind == "issue" and number in issues:
                del self._reported[(kind, number)]
                log.info("#%s found on GitHub again", number)

        pulls: dict[int, PullView] = {}
        ci: dict[int, CIView] = {}
        # Issues about to be picked up count too: a pull request someone already opened
        # for one of them decides which branch its worktree uses.
        branches = {
            n: r.branch or "" for n, r in records.items() if r.state != "closed" or n in issues
        }
        branches.update({n: "" for n in issues if n not in records})
        if branches:
            all_pulls = self.github.pulls()
            for number, branch in sorted(branches.items()):
                pull = self.github.pull_for_issue(number, branch, all_pulls)
                if pull is None:
                    continue
                pulls[number] = PullView(
                    pull.number, pull.url, pull.state, pull.merged, pull.head_ref, pull.head_sha
                )
                result = self.github.ci(
                    pull.head_sha, no_checks=cfg.no_checks, grace_s=cfg.no_checks_grace_s
                )
                ci[number] = CIView(result.status, pull.head_sha, tuple(result.failed))
        return _GitHubSnapshot(
            now, issues, pulls, ci, bodies, frozenset(missing), frozenset(pull_requests)
        )

    def _observe_panes(self, records: dict[int, Record], now: float) -> dict[int, PaneView]:
        wanted = {self.session_name(n): n for n in records}
        # One tmux launch per poll: the listing and the screens of the sessions that were
        # there last time; only sessions new since then cost a second launch.
        expected = [name for name in self._last_screens if name in wanted]
        panes, captures = self.sessions.observe(expected)
        self._live_sessions = {name for name, info in panes.items() if not info.dead}
        new = [
            name
            for name, info in panes.items()
            if name in wanted and not info.dead and name not in captures
        ]
        if new:
            captures.update(self.sessions.capture_many(new, listed=panes))
        views: dict[int, PaneView] = {}
        tree = processes.ProcessTree()  # read once, and only if some pane shows a shell
        for name, info in panes.items():
            number = wanted.get(name)
            if number is None:
                continue
            text = captures.get(name, "")
            command = (
                info.current_command
                if info.dead
                else processes.agent_command(
                    info.current_command, info.pid, self.profile.exited_commands, tree
                )
            )
            seen = (text, info.dead, command, info.title)
            last = self._last_screens.get(name)
            if last is not None and last[0] == seen:
                raw = last[1]  # an unchanged screen reads the same: no need to classify it
            else:
                raw = screens.classify(
                    text, self.profile, dead=info.dead, current_command=command, title=info.title
                )
                self._last_screens[name] = (seen, raw)
            settled = raw
            frozen_for = 0.0
            if self.settler is not None and not info.dead:
                moment = time.monotonic()
                settled, _since = self.settler.observe(name, raw, text, moment)
                frozen_for = moment - (self.settler.unchanged_since(name) or moment)
            views[number] = PaneView(
                session=name, dead=info.dead, reading=settled, raw=raw, frozen_for=frozen_for
            )
        for name in set(self._last_screens) - set(panes):
            del self._last_screens[name]
        if self.settler is not None:
            for name in set(wanted) - set(panes):
                self.settler.forget(name)
        return views

    def _observe_worktrees(self, records: dict[int, Record]) -> dict[int, str]:
        # The record names each issue's worktree; whether that folder is still there is
        # all a decision needs, and a stat per issue is far cheaper than asking git on
        # every pane poll. The actions ask git itself before they touch anything.
        found = {
            number: record.worktree
            for number, record in records.items()
            if record.worktree and Path(record.worktree).is_dir()
        }
        # A file written by hand for an issue at work names no worktree: its own folder,
        # if there, is the one (and gets written into the file).
        path_for = getattr(self.worktrees, "path_for", None)
        # So is a forced start-over's whose removal left it (it held changes) and a
        # person has forced again: it is removed now, if it can be.
        for number, record in records.items():
            starting_over = record.state == "discovered" and record.forced
            wanted = record.state in decisions.ACTIVE_STATES or starting_over
            if path_for and not record.worktree and wanted:
                own = path_for(number)
                if own.is_dir():
                    found[number] = str(own)
        return found

    def _observe_branches(self, records: dict[int, Record], worktrees: dict[int, str]):
        """The branch checked out in each worktree whose record names no branch."""
        return {
            number: branch
            for number, path in worktrees.items()
            if not records[number].branch and (branch := _checked_out_branch(Path(path)))
        }

    def observe(self, records: dict[int, Record], *, refresh_github: bool = True) -> Observation:
        now = self.clock()
        obs = Observation(now=now)
        waiting = self._github_retry_at is not None and time.time() < self._github_retry_at
        if waiting and (refresh_github or self._snapshot is None):
            # GitHub's rate limit asked for a pause: no request until it is over.
            obs.github_ok = False
            obs.github_error = "waiting for GitHub's rate limit to reset"
        elif refresh_github or self._snapshot is None:
            try:
                self._snapshot = self._observe_github(records, now)
                self._github_retry_at = None
                if self._github_failure is not None:
                    log.info("GitHub answers again")
                    self._github_failure = None
            except Stopped as error:
                # Not an outage: the controller is stopping, and the next start reads again.
                obs.github_ok = False
                obs.github_error = str(error)
                log.info("stopping: the GitHub read was cut short, nothing recorded from it")
            except Exception as error:  # any adapter failure: nothing recorded from it
                obs.github_ok = False
                obs.github_error = str(error)
                self._github_retry_at = getattr(error, "retry_at", None)
                # Said when it starts or changes, not on every poll of a long outage.
                if str(error) != self._github_failure:
                    log.warning(
                        "github read failed, nothing recorded from it (said again "
                        "only if it changes): %s",
                        error,
                    )
                self._github_failure = str(error)
        if self._snapshot is not None and obs.github_ok:
            obs.issues = dict(self._snapshot.issues)
            obs.pulls = dict(self._snapshot.pulls)
            obs.ci = dict(self._snapshot.ci)
            obs.missing = self._snapshot.missing
            obs.pull_requests = self._snapshot.pull_requests
            # Every open record is looked up on each read, so one the read has no
            # answer for was written after it.
            answered = obs.issues.keys() | obs.missing | obs.pull_requests
            obs.unread = frozenset(
                n for n, r in records.items() if r.state != "closed" and n not in answered
            )
        obs.panes = self._observe_panes(records, now)
        obs.worktrees = self._observe_worktrees(records)
        obs.branches = self._observe_branches(records, obs.worktrees)
        return obs

    # -- one pass ------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running pass to stop after the write in progress."""
        self._stopping = True
        interrupt = getattr(self.github, "interrupt", None)
        if interrupt is not None:
            interrupt()  # a wait before a GitHub retry ends now

    def run_pass(
        self, *, refresh_github: bool = True, dry_run: bool = False, only: int | None = None
    ) -> PassReport:
        report = PassReport()
        previews: dict[int, Record] = {}
        if dry_run:
            # What a hand edit would be taken as (a changed state is a forced transition,
            # whose steps follow): shown, not recorded.
            for edit in self.store.hand_edits():
                if only is not None and edit.issue != only:
                    continue
                record = previews[edit.issue] = self.store.as_accepted(edit)
                if record.forced:
                    before = edit.before.state if edit.before else "new"
                    report.steps.append(
                        f"#{edit.issue} {before} -> {record.state} (forced): {record.reason}"
                    )
        else:
            # A folder moved away, turned read-only or a full disk fails the pass here,
            # before any side effect (and before the folder is made again), rather than
            # after an agent was started that cannot be recorded.
            self.store.check_lock()
            self.store.check_writable()
            for edit in self.store.hand_edits():
                if only is not None and edit.issue != only:
                    continue
                try:
                    record = self.store.accept(edit)
                except StoreError as error:  # edited again meanwhile: read on the next pass
                    log.info("#%s hand edit not recorded yet: %s", edit.issue, error)
                    continue
                before = edit.before.state if edit.before else "new"
                log.info("#%s %s -> %s: edited by hand", edit.issue, before, record.state)
                self._unrecorded.pop(edit.issue, None)  # a person acted: try it now

        restored = self.store.restore_deleted(dry_run=dry_run)
        for number, record in restored.items():
            report.steps.append(f"#{number} {record.state}: state file restored")
            if not dry_run:
                log.warning(
                    "#%s %s: its state file was deleted; restored from the "
                    "controller's last write (to start over: controller force %s "
                    "discovered)",
                    number,
                    record.state,
                    number,
                )
        loaded = self.store.load_all()
        if dry_run:
            loaded = {**restored, **loaded, **previews}
        records: dict[int, Record] = {}
        for number, item in sorted(loaded.items()):
            if isinstance(item, Record):
                records[number] = item
            else:
                report.invalid.append(f"{item.path}: {item.error}")
                self._say_once(("file", str(item.path)), f"skipped until fixed: {item.error}")
        invalid_numbers = {n for n, item in loaded.items() if not isinstance(item, Record)}
        if refresh_github:
            for line in self.store.misnamed():
                self._say_once(("misnamed", line), line)

        obs = self.observe(records, refresh_github=refresh_github)
        if not obs.github_ok:
            report.github_error = obs.github_error

        for number, view in sorted(obs.issues.items()):
            if self._stopping:
                break
            if number in records or number in invalid_numbers:
                continue
            if only is not None and number != only:
                continue
            step = decisions.new_record_step(view)
            if step is None:
                continue
            report.steps.append(step.describe(number, "new"))
            if not dry_run:
                records[number] = self.store.create(
                    Record(issue=number, state="discovered", **step.fields), step.reason
                )
                log.info("#%s new -> discovered: %s", number, step.reason)

        ctx = self._context(records, obs, held=self._slots_held_by(invalid_numbers))
        for number in sorted(records):
            if only is not None and number != only:
                continue
            if self._stopping:
                break
            record = records[number]
            if self._refuse_worktree(record, obs, report, dry_run):
                continue
            held = self._unrecorded.get(number)
            if held and obs.now < held[2] and not dry_run:
                continue  # its last step could not be recorded: not done again yet
            if not dry_run:
                record = self._restart_timers_after_clock_jump(record, obs.now)
            self._advance(record, obs, ctx, report, dry_run)
        return report

    def _refuse_worktree(
        self, record: Record, obs: Observation, report: PassReport, dry_run: bool
    ) -> bool:
        """True when the record's `worktree:` names a folder not the issue's own.

        Nothing is done for that issue (no agent started in the main clone, no cleanup
        of a folder that is not its worktree) until a person corrects the line; the
        reason is written to the file once, and cleared once the line is fixed.
        """
        refuse = getattr(self.worktrees, "refuse", None)
        key = (record.issue, record.worktree, record.branch)
        if refuse is None or not record.worktree:
            problem = None
        elif key in self._worktree_checked:
            problem = self._worktree_checked[key]
        else:
            problem = refuse(record.issue, record.worktree, record.branch)
            self._worktree_checked[key] = problem  # git is asked once per value written
        fixed = not problem and (record.error or "").endswith(WORKTREE_FIX)
        if problem:
            obs.worktrees.pop(record.issue, None)
            report.steps.append(f"#{record.issue} refused: {problem}")
        said = bool(problem) and record.error == problem and not record.retry_at
        if dry_run or not (fixed or (problem and not said)):
            return bool(problem)
        try:
            self.store.update(record.issue, note=problem, error=problem, retry_at=None)
        except StoreError as error:
            log.error("#%s could not record its worktree line: %s", record.issue, error)
            return True
        if problem:
            log.error("#%s left alone: %s", record.issue, problem)
        return bool(problem)

    def _restart_timers_after_clock_jump(self, record: Record, now: float) -> Record:
        """Timers from before the machine's clock was set back restart from now.

        A `pane_since` in the future would keep the stall timer from ever firing, and a
        `retry_at` further ahead than the longest backoff would hold the issue for as
        long as the clock went back; both can only come from a clock set back.
        """
        fields = {}
        if record.pane_since and parse_iso(record.pane_since) > now + CLOCK_SLACK_S:
            fields["pane_since"] = utc_now_iso(now)
        longest = self.config.policy.retry_backoff_max_s
        if record.retry_at and parse_iso(record.retry_at) > now + longest + CLOCK_SLACK_S:
            fields["retry_at"] = utc_now_iso(now + longest)
        if not fields:
            return record
        try:
            updated = self.store.update(record.issue, **fields)
        except StoreError as error:
            log.error("#%s could not restart its timers: %s", record.issue, error)
            return record
        log.info("#%s restarted its timers: the clock was set back", record.issue)
        return updated

    def _slots_held_by(self, numbers: set[int]) -> int:
        """How many of these issues (whose files cannot be read) still have an agent or a
        worktree: they hold their worker slots until their files can be read again."""
        path_for = getattr(self.worktrees, "path_for", None)
        return sum(
            1
            for n in numbers
            if self.session_name(n) in self._live_sessions or (path_for and path_for(n).is_dir())
        )

    def _context(
        self, records: dict[int, Record], obs: Observation, held: int = 0
    ) -> decisions.Context:
        policy = self.config.policy
        return decisions.Context(
            now=obs.now,
            stall_after_s=policy.stall_after_s,
            max_nudges=policy.max_nudges,
            max_spawns=policy.max_spawns,
            max_ci_attempts=policy.max_ci_attempts,
            permission=policy.permission,
            hang_after_s=policy.hang_after_s,
            interrupt_keys=[self.profile.keys.get("interrupt", "Escape")],
            dialog_keys=dict(self.profile.dialog_keys),
            permission_keys=list(getattr(self.profile, "permission_accept_keys", []) or []),
            may_start=decisions.worker_slots(
                list(records.values()), obs.issues, policy.max_workers, held
            ),
        )

    def _advance(
        self,
        record: Record,
        obs: Observation,
        ctx: decisions.Context,
        report: PassReport,
        dry_run: bool,
    ) -> None:
        for _ in range(MAX_STEPS_PER_ISSUE):
            step = decisions.decide(record, obs, ctx)
            if step is None:
                return
            line = step.describe(record.issue, record.state)
            report.steps.append(line)
            if dry_run:
                return
            try:
                results = self._act(step, record, obs)
            except Stopped:
                # Stopping is no failure of this issue's: recorded as one, it would
                # count against the issue's budget and hold it back after the restart.
                report.steps[-1] = f"{line} [stopped: left for the next pass]"
                log.info("%s: not done, the controller is stopping; the next pass does it", line)
                return
            except Exception as error:
                if self._stopping:
                    # Ctrl-C in a terminal, or a service manager's stop, signals the
                    # whole process group: the git or tmux this step was running died
                    # of the same signal. The step is as unfinished as a Stopped one.
                    report.steps[-1] = f"{line} [stopped: left for the next pass]"
                    log.info(
                        "%s: not done, the controller is stopping (%s); the next pass does it",
                        line,
                        " ".join(str(error).split())[:300],
                    )
                    return
                report.steps[-1] = f"{line} [failed: retried later]"
                if not self._record_failure(record, step, error, report):
                    self._undo_unrecorded_start(record.issue, step, obs)
                return
            try:
                record = self._record(record, step, results)
            except (StoreError, OSError) as error:
                # The side effect is done and the next pass sees it; one issue's
                # unwritable record (a locked audit repository, a full disk, a hand
                # edit racing us) must not stop the controller or the other issues.
                report.steps[-1] = f"{line} [done, not recorded]"
                if isinstance(error, ConcurrentEdit):
                    # A person saved the file meanwhile: theirs stands, and the next
                    # pass reads it. Nothing is wrong, and nothing waits.
                    log.info("%s: done; not recorded, as %s", line, error)
                    self._undo_unrecorded_start(record.issue, step, obs)
                    return
                report.errors.append(f"#{record.issue} not recorded: {error}")
                said = f"{line}: done, not recorded: {error}"
                before, times = self._unrecorded.get(record.issue, ("", 0))[:2]
                # A cause that lasts (a git lock left behind) must neither be said on
                # every pass nor have the step (an agent started, a nudge) done again on
                # every pass: the issue waits, ever longer, as a failed step does.
                policy = self.config.policy
                wait = min(policy.retry_backoff_max_s, policy.retry_backoff_s * 2**times)
                self._unrecorded[record.issue] = (said, times + 1, obs.now + wait)
                if said != before:
                    log.error("%s; tried again in %.0fs", said, wait)
                else:
                    log.debug("%s; tried again in %.0fs", said, wait)
                self._undo_unrecorded_start(record.issue, step, obs)
                return
            self._unrecorded.pop(record.issue, None)
            if self._stopping or step.action in ("launch", "nudge", "keys", "submit_draft"):
                # The agent's screen changed because of us; read it again next pass.
                return

    def _record(self, record: Record, step: decisions.Step, results: dict[str, Any]) -> Record:
        fields = {**step.fields, **results}
        if step.action and (record.attempts or record.retry_at):
            # A side effect went through: the failures before it are over, and so is
            # the error they left, unless this step names one of its own. Left behind
            # without its retry time, that error would read as a give-up ("needs a
            # person"). A step that only notes something (a spent budget, say) leaves
            # the count alone.
            fields.update(attempts=0, retry_at=None)
            fields.setdefault("error", None)
        if step.dest:
            updated = self.store.transition(record.issue, step.dest, step.reason, **fields)
            log.info("#%s %s -> %s: %s", record.issue, record.state, step.dest, step.reason)
            return updated
        if step.forced_done:
            fields["forced"] = False
        gave_up = bool(step.fields.get("error")) and not step.action
        if fields:
            # Giving up on an issue and cleaning up after a closed one are worth a line
            # in the audit trail; a new screen reading is not.
            note = step.reason if gave_up or step.action == "cleanup" else None
            updated = self.store.update(record.issue, note=note, **fields)
            if gave_up:
                log.warning("#%s %s: %s", record.issue, record.state, step.reason)
            elif step.action:
                log.info("#%s %s: %s", record.issue, record.state, step.reason)
            return updated
        if step.action:
            log.info("#%s %s: %s", record.issue, record.state, step.reason)
        return record

    def _undo_unrecorded_start(self, number: int, step: decisions.Step, obs: Observation) -> None:
        """Stops an agent just started whose start could not be written to its state file.

        The file was emptied, edited or made unwritable while the agent started; an agent
        that no record names would run unseen, outside every budget, and be started again
        beside itself. Stopped, it is started afresh once its file can be written.
        """
        if step.action != "launch":
            return
        try:
            self._stop(number, obs)
        except Exception as error:
            log.error("#%s could not stop its unrecorded agent: %s", number, error)
            return
        log.warning(
            "#%s stopped the agent just started, as its start could not be recorded; it "
            "is started again once the state file can be written",
            number,
        )

    def _record_failure(
        self, record: Record, step: decisions.Step, error: Exception, report: PassReport
    ) -> bool:
        policy = self.config.policy
        attempts = record.attempts + 1
        delay = min(policy.retry_backoff_max_s, policy.retry_backoff_s * 2 ** (attempts - 1))
        message = f"{decisions.ACTION_NAMES.get(step.action or '', 'step')} failed: {error}"
        report.errors.append(f"#{record.issue} {message}")
        log.error("#%s %s; retrying in %.0fs", record.issue, message, delay)
        try:
            self.store.update(
                record.issue,
                error=message[:500],
                attempts=attempts,
                retry_at=utc_now_iso(self.clock() + delay),
            )
        except Exception as write_error:
            log.error("#%s could not record the failure: %s", record.issue, write_error)
            return False
        return True

    # -- act -----------------------------------------------------------------------

    def _still_wanted(self, number: int) -> None:
        current = self.store.load(number)
        if not isinstance(current, Record) or current.state == "closed":
            raise ActionFailed("the state file changed meanwhile; skipped")
        issue = self.github.issue(number)
        if issue.state != "open":
            raise ActionFailed("the issue was closed meanwhile; skipped")

    def _act(self, step: decisions.Step, record: Record, obs: Observation) -> dict[str, Any]:
        action = step.action
        number = record.issue
        name = self.session_name(number)
        if action is None:
            return {}
        if action == "ensure_worktree":
            self._still_wanted(number)
            info = self.worktrees.ensure(number, step.args.get("branch") or record.branch)
            crash_point("after-worktree")
            obs.worktrees[number] = str(info.path)
            return {"branch": info.branch, "worktree": str(info.path)}
        if action == "launch":
            self._still_wanted(number)
            return self._launch(record, obs, step.args)
        if action == "nudge":
            text = self._render(
                step.args["prompt"], record, failed_checks=step.args.get("failed_checks", "")
            )
            self._deliver(name, text)
            return {}
        if action == "keys":
            self.sessions.send_keys(name, *step.args["keys"])
            return {}
        if action == "submit_draft":
            result = delivery.submit_draft(self.sessions, name, self.profile)
            if not result.ok:
                raise ActionFailed(result.error or "the draft stayed in the input box")
            return {}
        if action == "stop_agent":
            self._stop(number, obs)
            return {}
        if action == "remove_worktree":
            return self._remove_worktree(number, obs)
        if action == "cleanup":
            self._stop(number, obs)
            fields = self._remove_worktree(number, obs)
            crash_point("after-cleanup")
            return {"session": None, "pane": None, "pane_since": None, **fields}
        if action == "comment":
            self.github.comment(number, step.args["text"])
            return {}
        if action == "create":
            return {}
        raise ActionFailed(f"unknown action {action}")

    def _stop(self, number: int, obs: Observation) -> None:
        name = self.session_name(number)
        if self.sessions.exists(name):
            self.sessions.stop(name)
        obs.panes.pop(number, None)
        if self.settler is not None:
            self.settler.forget(name)

    def _remove_worktree(self, number: int, obs: Observation) -> dict[str, Any]:
        """Removes the worktree; one that holds unsaved work is kept, said once, and let be."""
        record = self.store.load(number)
        branch = record.branch if isinstance(record, Record) else None
        result = self.worktrees.remove(number, branch)
        obs.worktrees.pop(number, None)
        kept = getattr(result, "kept_reason", None)
        if not (kept and getattr(result, "worktree_removed", True) is False):
            self._remove_agent_home(number)
        if kept:
            removed = getattr(result, "worktree_removed", False)
            what = "branch kept" if removed else decisions.WORKTREE_KEPT
            log.warning("#%s %s: %s", number, what, kept)
            return {"worktree": None, "error": f"{what}: {kept}"}
        return {"worktree": None}

    def _remove_agent_home(self, number: int) -> None:
        """The agent's own folder (its config and transcripts) goes with its worktree."""
        path_for = getattr(self.worktrees, "path_for", None)
        if path_for is None:
            return
        home = launch.agent_home(path_for(number), number)
        if home.is_dir():
            shutil.rmtree(home, ignore_errors=True)
            log.info("#%s removed the agent's folder %s", number, home)
        with contextlib.suppress(OSError):
            home.parent.rmdir()  # only when no other agent's folder is left in it

    def _launch(self, record: Record, obs: Observation, args: dict[str, Any]) -> dict[str, Any]:
        number = record.issue
        name = self.session_name(number)
        worktree = Path(record.worktree or obs.worktrees.get(number) or "")
        branch = record.branch
        if not record.worktree or not worktree.is_dir():
            info = self.worktrees.ensure(number, record.branch)
            worktree, branch = Path(info.path), info.branch
        if args.get("restart") and self.sessions.exists(name):
            self.sessions.stop(name)
        command, env = launch.agent_launch(
            self.profile,
            self.config,
            number=number,
            worktree=worktree,
            resume=bool(args.get("resume")),
            token=self.token,
        )
        self.sessions.start(name, worktree, command, env)
        crash_point("after-session")
        text = self._render("issue-solver", record.replace(worktree=str(worktree)))
        self._deliver(name, text)
        crash_point("after-prompt")
        obs.panes[number] = PaneView(session=name)
        return {"session": name, "worktree": str(worktree), "branch": branch}

    def _deliver(self, name: str, text: str) -> None:
        result = delivery.deliver(
            self.sessions,
            name,
            text,
            self.profile,
            ready_timeout=self.profile.ready_timeout_s,
            known=[self.token],
        )
        if not result.ok:
            raise ActionFailed(result.error or "the prompt was not submitted")

    def _render(self, template: str, record: Record, **extra: str) -> str:
        body = ""
        comments = ""
        if self._snapshot is not None:
            body = self._snapshot.bodies.get(record.issue, "")
        if template in ("issue-solver",) and hasattr(self.github, "comments"):
            authors = self._authors()
            found = self.github.comments(record.issue, authors=authors)
            comments = "\n\n".join(f"{c.author} wrote:\n{c.body}" for c in found)
        url = prompts.issue_title(record.url or "", limit=2048)
        values = {
            "number": record.issue,
            "title": prompts.issue_title(record.title or ""),
            "url": url,
            "branch": record.branch or "",
            "repository": self.config.github.repo,
            "body": prompts.issue_text(body, where=url),
            "comments": prompts.issue_text(comments, where=url, keep="end") or "(none)",
            "failed_checks": prompts.issue_text(extra.get("failed_checks", "")),
            "pr": record.pr or "",
        }
        return prompts.render(self.config.prompts_path, template, **values)


def _checked_out_branch(worktree: Path) -> str | None:
    """The branch a worktree has checked out, read from its files without running git."""
    try:
        link = (worktree / ".git").read_text(encoding="utf-8").strip()
        if not link.startswith("gitdir: "):
            return None
        gitdir = (worktree / link.removeprefix("gitdir: ")).resolve()
        head = (gitdir / "HEAD").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None


def _issue_view(issue, *, eligible: bool) -> IssueView:
    return IssueView(
        number=issue.number,
        title=issue.title,
        url=issue.url,
        state=issue.state,
        state_reason=issue.state_reason,
        author=issue.author,
        eligible=eligible,
        created_at=issue.created_at or "",
        updated_at=issue.updated_at or "",
    )
