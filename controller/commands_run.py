"""`controller init`, `reconcile`, `run`, `doctor` and `demo`: the commands that act.

Each one takes the state directory's lock first, so two controllers never act on the
same issues; the second says who holds the lock and exits non-zero (or waits with
`--wait`). Exit status: 0 when the pass ran, 2 for a problem a person must fix
(configuration, lock, GitHub unreachable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from controller import config as config_module
from controller.cli import UsageError, issue_number, positive_seconds

log = logging.getLogger(__name__)

INIT_TEMPLATE = """\
# controller.yaml: settings for the issue controller. Every key is optional;
# the values shown are the defaults. Paths are relative to this file.

github:
  api_url: https://api.github.com      # or a sandbox forge: http://127.0.0.1:PORT
  repo: {repo}                 # OWNER/NAME
  authors: []                          # whose issues to work on; empty: the token's own login
  labels: []                           # issues must carry all of these labels
  exclude_labels: []                   # issues with any of these are left alone
  created_since: ""                    # YYYY-MM-DD, "today", or empty
  no_checks: wait                      # a PR without checks: wait, or success after the grace
  no_checks_grace_s: 120
  poll_interval_s: 3                   # GitHub is read this often (conditional requests)
  timeout_s: 20

repo:
  path: ./repo                         # local clone; cloned on first start when missing
  base_branch: ""                      # empty: the remote's default branch
  branch_template: "fix/issue-{{number}}-{{suffix}}"
  worktree_dir: ./worktrees

tmux:
  socket: controller                   # a private tmux server: tmux -L controller ls
  session_template: "worker-{{number}}"
  width: 200
  height: 50
  poll_interval_s: 1

agent:
  profile: claude-code                 # claude-code, generic, scripted, or a profile file
  command: ""                          # overrides the profile's command; a shell
                                       # wrapper (sh -c '...') works too: the agent is
                                       # looked for below the shell
  env: {{}}                              # extra variables for the agent
  pass_env: []                         # variables copied from this process's environment
  pass_github_token: false             # the agent gets GITHUB_TOKEN only when true

policy:
  max_workers: 3                       # agents at once; others wait in `discovered`
  stall_after_s: 180                   # idle this long: stalled, then nudged
  max_nudges: 5
  max_spawns: 3
  max_ci_attempts: 3
  permission: stall                    # a permission prompt: stall (ask a person) or accept
  settle_s: 1
  hang_after_s: 600                    # busy with a frozen screen this long: interrupt, nudge
  retry_backoff_s: 10
  retry_backoff_max_s: 600

state_dir: ./state
# prompts_dir: ./prompts               # your own prompt templates; default: the ones shipped
"""


def _load(args) -> config_module.Config:
    return config_module.load(args.config, required=False)


def _state_path(args, config) -> Path:
    from controller.app import state_dir
    from controller.commands_state import check_state_dir

    named_by = (
        f"--state-dir {args.state_dir}"
        if args.state_dir
        else f"state_dir in {args.config or config_module.DEFAULT_PATH}"
    )
    return check_state_dir(state_dir(config, args.state_dir), named_by)


# What GitHub allows in an owner's and a repository's name.
_REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def repo_name(text: str) -> str:
    """An argparse type: a GitHub repository as OWNER/NAME."""
    if not _REPO_NAME.fullmatch(text) or {".", ".."} & set(text.split("/")):
        raise argparse.ArgumentTypeError(
            "a repository is OWNER/NAME, letters, digits, '-', '_' and '.' only, such as "
            f"octocat/hello-world; not {text!r}"
        )
    return text


def cmd_init(args) -> int:
    from controller.store import Store

    # Everything is checked before anything is written, so a mistake leaves nothing behind.
    path = Path(args.config or config_module.DEFAULT_PATH)
    text = None
    # A symbolic link counts as there, so a dangling one is an error, not written through.
    if os.path.lexists(path):
        config = config_module.load(path, required=True)
        if args.repo and args.repo != config.github.repo:
            raise UsageError(
                f"{path} exists (github.repo: {config.github.repo or 'not set'}); --repo "
                f"{args.repo} was not applied and nothing was changed: write it as "
                f"github.repo in {path}, or move {path} away and run init again"
            )
    else:
        # A JSON string is a double-quoted YAML scalar: the value is written exactly.
        text = INIT_TEMPLATE.format(repo=json.dumps(args.repo or ""))
        config = config_module.from_mapping(
            yaml.safe_load(text), str(path), base_dir=path.resolve().parent
        )
    state = _state_path(args, config)
    if text is None:
        print(f"{path} exists; left as it is")
    else:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as error:
            raise UsageError(
                f"{path}: cannot be written ({error.strerror}); give --config "
                "a path in an existing folder this user may write"
            ) from None
        print(f"wrote {path}")
    Store.open(state)
    print(f"state directory ready: {state}")
    return 0


def _say_waiting(error: Exception) -> None:
    """The one line of a one-shot command that waits: its log shows no info lines."""
    print(f"controller: waiting for the lock: {error}", file=sys.stderr, flush=True)


def _enter_lock(store, wait: bool, stop: threading.Event | None = None, say=None):
    """Takes the state directory's lock; with `wait`, polls for it until `stop` is set.

    The wait is said once, when it starts (`say`, or an info line of the log); the holder
    changing meanwhile is only logged at debug level.
    """
    from controller.store import LockHeld

    said = None
    while True:
        manager = store.lock(wait=False)
        try:
            manager.__enter__()
            return manager
        except LockHeld as error:
            if not wait:
                raise UsageError(
                    f"{error}; stop it first, use another state directory, or "
                    "add --wait to wait for it"
                ) from None
            if said is None:
                if say is None:
                    log.info("waiting for the lock: %s", error)
                else:
                    say(error)
            elif str(error) != said:
                log.debug("still waiting for the lock: %s", error)
            said = str(error)
        if stop is not None and stop.wait(1.0):
            return None
        if stop is None:
            time.sleep(1.0)


class _PassEnding(threading.Event):
    """Set by the signal that ends a one-shot pass; says which, as the exit status does."""

    signum = signal.SIGINT

    def ended(self) -> int:
        """Prints the one line for the signal (after the steps done) and gives the status."""
        sys.stdout.flush()
        print("interrupted" if self.signum == signal.SIGINT else "terminated", file=sys.stderr)
        return 128 + self.signum


@contextlib.contextmanager
def _signals_end_the_pass(stop: _PassEnding, reconciler) -> Iterator[None]:
    """Ctrl-C, SIGTERM or SIGHUP end the pass after the step in progress, as `run` stops,
    so the steps already done are still printed; outside the main thread signals are
    not ours."""

    def handler(signum: int, frame: object) -> None:
        if not stop.is_set():
            stop.signum = signum
        stop.set()
        reconciler.stop()

    from controller.watch import STOP_SIGNALS

    before = {}
    for signum in STOP_SIGNALS:
        try:
            before[signum] = signal.signal(signum, handler)
        except ValueError:
            break
    try:
        yield
    finally:
        for signum, handler_before in before.items():
            signal.signal(signum, handler_before)


def cmd_reconcile(args) -> int:
    from controller.app import open_reconciler

    config = _load(args)
    state = _state_path(args, config)
    interrupted = _PassEnding()
    with (
        open_reconciler(config, state, settle=False, read_only=args.dry_run) as reconciler,
        _signals_end_the_pass(interrupted, reconciler),
    ):
        lock = (
            None
            if args.dry_run
            else _enter_lock(reconciler.store, args.wait, interrupted, say=_say_waiting)
        )
        if lock is None and not args.dry_run:
            return interrupted.ended()  # while waiting for the lock
        try:
            report = reconciler.run_pass(dry_run=args.dry_run, only=args.issue)
        except Exception:
            if not interrupted.is_set():
                raise
            # The git or tmux being waited on died of the same Ctrl-C before any step.
            return interrupted.ended()
        finally:
            if lock is not None:
                lock.__exit__(None, None, None)
    prefix = "would: " if args.dry_run else ""
    for line in report.steps:
        print(prefix + line)
    # Each failure (report.errors) and invalid file (report.invalid) was logged once by
    # the pass already, as a `controller: error: ...` line: not said twice.
    if interrupted.is_set():
        return interrupted.ended()
    if report.github_error:
        print(f"controller: GitHub could not be read: {report.github_error}", file=sys.stderr)
        return 2
    if not report.steps:
        print(_nothing_to_do(reconciler, args.issue, report))
    return 0


def _nothing_to_do(reconciler, number: int | None, report) -> str:
    """What a pass with no step says; for `--issue N`, also when N is unknown.

    An issue with no state file that GitHub listed as open and eligible would have had a
    step (its state file made), so no step and no file means GitHub did not list it.
    """
    if number is None or number in reconciler.store.load_all():
        return "nothing to do"
    return (
        f"nothing to do: #{number} is not tracked (no state file in "
        f"{reconciler.store.state_dir}) and is not an open issue on GitHub that the "
        "configuration picks (github.repo, authors, labels, exclude_labels, created_since)"
    )


def cmd_run(args) -> int:
    from controller.app import open_reconciler
    from controller.watch import run_forever, stop_on_signals

    config = _load(args)
    state = _state_path(args, config)
    stop = threading.Event()
    # Signals are taken from the first moment, so a stop during start-up (a clone can
    # take a while) is a clean exit too; the reconciler is told once it exists.
    stop_on_signals(stop)
    with open_reconciler(config, state, settle=True) as reconciler:
        stop_on_signals(stop, reconciler.stop)
        if stop.is_set():
            return 0
        lock = _enter_lock(reconciler.store, args.wait, stop)
        if lock is None:
            return 0  # stopped while waiting for the lock
        log.info(
            "controller running on %s (GitHub %s, every %ss; tmux socket %s); "
            "SIGINT, SIGTERM or SIGHUP stops it, agents keep running",
            state,
            config.github.repo,
            config.github.poll_interval_s,
            config.tmux.socket,
        )
        try:
            run_forever(
                lambda refresh: reconciler.run_pass(refresh_github=refresh),
                state,
                pane_interval=config.tmux.poll_interval_s,
                github_interval=config.github.poll_interval_s,
                stop=stop,
            )
        finally:
            lock.__exit__(None, None, None)
    return 0


def cmd_doctor(args) -> int:
    problems: list[str] = []
    notes: list[str] = []

    def check(ok: bool, good: str, bad: str) -> None:
        (notes if ok else problems).append(good if ok else bad)

    try:
        config = _load(args)
    except config_module.ConfigError as error:
        print(f"FIX   config: {error}")
        return 2
    if args.config or os.path.lexists(config_module.DEFAULT_PATH):
        notes.append(f"config: {args.config or config_module.DEFAULT_PATH} is valid")
    else:
        notes.append(
            f"config: no {config_module.DEFAULT_PATH} here; the defaults apply "
            "(`controller init` writes one)"
        )
    check(bool(shutil.which("tmux")), "tmux: found", "tmux: not found; install tmux")
    check(bool(shutil.which("git")), "git: found", "git: not found; install git")
    from controller import screens

    try:
        profile = screens.load_profile(config.agent.profile)
        # The configuration checked that agent.command splits.
        command = (
            shlex.split(config.agent.command)[:1] if config.agent.command else profile.command[:1]
        )
        found = bool(command) and bool(shutil.which(command[0]))
        check(
            found,
            f"agent: {command[0]} found",
            f"agent: {command[0] if command else '?'} "
            "not found on PATH; install it or set agent.command",
        )
    except Exception as error:
        problems.append(f"agent profile: {error}")
    from controller import prompts

    try:
        folder = config.prompts_path
        lacking = prompts.missing_templates(folder)
        check(not lacking, f"prompts: {folder}", f"prompts: {lacking}")
    except config_module.ConfigError as error:
        problems.append(f"prompts: {error}")
    try:
        state = _state_path(args, config)
    except UsageError as error:
        problems.append(f"state: {error}")
    else:
        bad = _state_dir_problem(state)
        made = "" if state.is_dir() else " (made on the first start)"
        check(bad is None, f"state: {state}{made}", f"state: {bad}")
    if config.policy.max_workers == 0:
        where = args.config or config_module.DEFAULT_PATH
        problems.append(
            "policy.max_workers: 0, so no agent will ever start and every issue waits in "
            f"`discovered`; raise policy.max_workers in {where} (3 is the default)"
        )
    check(
        bool(config.github.repo),
        f"github.repo: {config.github.repo}",
        "github.repo: not set; write OWNER/NAME in controller.yaml",
    )
    from controller.github import GitHub, resolve_token

    token = resolve_token()
    if not token:
        problems.append("token: none; set GITHUB_TOKEN or GH_TOKEN, or `gh auth login`")
    elif config.github.repo:
        try:
            with GitHub.from_config(config.github, token) as github:
                login = github.viewer()
                repo = github.repository()
                notes.append(f"github: {config.github.api_url} answers; token is {login}")
                notes.append(
                    f"repository: {repo.get('full_name')} "
                    f"(default branch {repo.get('default_branch')})"
                )
        except Exception as error:
            problems.append(f"github: {error}")
    for line in notes:
        print(f"ok    {line}")
    for line in problems:
        print(f"FIX   {line}")
    return 2 if problems else 0


def _state_dir_problem(path: Path) -> str | None:
    """Why the controller could not keep its state files in `path`, or None if it can.

    A folder that is not there yet is fine when the nearest folder that is lets this
    user make it; the files and the git repository inside need a folder this user may
    write and enter.
    """
    folder = path
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        return f"{path}: {folder} is not a directory; set state_dir to a folder"
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        # No chmod helps here: the whole file system refuses writes.
        return (
            f"{path}: {'it is' if folder == path else f'{folder} is'} on a read-only file "
            "system; mount it read-write or set state_dir to a folder on a writable disk"
        )
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        if folder == path:
            return (
                f"{path}: this user may not read and write in it; fix its permissions "
                f"(chmod u+rwx {path}) or set state_dir to a folder this user owns"
            )
        return (
            f"{path} does not exist and cannot be made: this user may not write in "
            f"{folder}; create it by hand, or set state_dir to a folder this user may write"
        )
    return None


def cmd_demo(args) -> int:
    from controller.sandbox import demo

    return demo.main(
        issues=args.issues,
        agent=args.agent,
        directory=args.dir,
        timeout=args.timeout,
        keep=args.keep,
    )


def _count_of(most: int):
    """An argparse type: a whole number from 1 to `most`."""

    def count(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= most:
            raise argparse.ArgumentTypeError(f"a whole number from 1 to {most}, not {text!r}")
        return int(text)

    return count


def register(subparsers) -> None:
    parser = subparsers.add_parser("init", help="write a commented controller.yaml")
    parser.add_argument(
        "--repo",
        type=repo_name,
        default=None,
        metavar="OWNER/NAME",
        help="OWNER/NAME to put in a new file (an existing file is not changed)",
    )
    parser.set_defaults(func=cmd_init)

    parser = subparsers.add_parser("reconcile", help="one pass: observe, decide, act, record")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--issue", type=issue_number, default=None, metavar="N", help="only this issue"
    )
    parser.add_argument("--wait", action="store_true", help="wait for another controller")
    parser.set_defaults(func=cmd_reconcile)

    parser = subparsers.add_parser("run", help="run until stopped (SIGINT/SIGTERM/SIGHUP)")
    parser.add_argument("--wait", action="store_true", help="wait for another controller")
    parser.set_defaults(func=cmd_run, long_running=True)

    parser = subparsers.add_parser("doctor", help="check tmux, git, agent, token and config")
    parser.set_defaults(func=cmd_doctor)

    from controller.sandbox.issues import ISSUES

    parser = subparsers.add_parser("demo", help="the whole job on the embedded sandbox")
    parser.add_argument(
        "--issues",
        type=_count_of(len(ISSUES)),
        default=3,
        metavar="K",
        help=f"how many issues to file, 1 to {len(ISSUES)} (default 3)",
    )
    parser.add_argument("--agent", choices=("scripted", "claude"), default="scripted")
    parser.add_argument("--dir", default=None, help="where to keep everything it makes")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=600.0,
        metavar="SECONDS",
        help="give up after this many seconds, more than 0 (default 600)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the agents' tmux server running at the end"
    )
    parser.set_defaults(func=cmd_demo, long_running=True)
