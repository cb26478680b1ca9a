"""The scripted agent: a stand-in for a coding agent's terminal UI that does real work.

The demo and the tests need an agent that behaves like Claude Code on screen (an input
box, a busy spinner, an idle box afterwards, pastes that swallow their Enter) but needs
no model. Given a prompt naming an issue of the demo's issue set, it edits the files of
its worktree, runs the sample's tests, commits, pushes, opens the pull request through
the forge's REST API, waits for the `ci` check, comments on the issue and merges. Each
step first looks at what already exists, so a restarted agent continues where the last
one stopped.

`solve` does the same work without a screen; the stand-in model's Bash tool call runs it.

It talks to the world only through git, the REST API and its terminal; it must never
import the controller's internals.
"""

from __future__ import annotations

import argparse
import codecs
import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import tty
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from controller.sandbox import issues

log = logging.getLogger(__name__)

DEFAULT_REPOSITORY = "sandbox/sample"
CHECK_GRACE_S = 5.0
CHECK_TIMEOUT_S = 300.0
PASTE_BURST = 64
GIT_IDENTITY = ("-c", "user.name=Scripted agent", "-c", "user.email=agent@sandbox.invalid")


class SolveError(Exception):
    """A step of the work failed; the message says which and what was seen."""


# ---------------------------------------------------------------- the forge's REST API


class Forge:
    """The few GitHub REST calls the agent makes, over urllib."""

    def __init__(self, api_url: str, token: str, repository: str):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.repository = repository

    def call(self, method: str, path: str, body: dict | None = None):
        url = f"{self.api_url}/repos/{self.repository}{path}"
        request = urllib.request.Request(url, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("User-Agent", "scripted-agent")
        if self.token:
            request.add_header("Authorization", f"token {self.token}")
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, data=data, timeout=30) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise SolveError(f"{method} {url} answered {error.code}: {detail}") from None
        except OSError as error:
            raise SolveError(
                f"{method} {url} failed: {error}; is the forge running at GITHUB_API_URL?"
            ) from None
        return json.loads(raw) if raw.strip() else None


# ---------------------------------------------------------------- the work itself


@dataclass
class Task:
    number: int
    repository: str = ""
    branch: str = ""


NUMBER = re.compile(r"(?<![\w&])#(\d+)\b")
ISSUE_URL = re.compile(r"/([\w.-]+)/([\w.-]+)/issues/(\d+)")
BRANCH = re.compile(r"(?<![\w/.-])(fix/[\w./-]*\w)")
REPOSITORY = re.compile(r"\brepository\b\W{0,3}([\w.-]+/[\w.-]*\w)", re.IGNORECASE)


def parse_prompt(text: str) -> Task | None:
    """The issue a prompt asks for (number, repository, branch), or None."""
    url = ISSUE_URL.search(text)
    number = NUMBER.search(text)
    if not number and not url:
        return None
    task = Task(int(number.group(1) if number else url.group(3)))
    if url:
        task.repository = f"{url.group(1)}/{url.group(2)}"
    elif match := REPOSITORY.search(text):
        task.repository = match.group(1)
    if branch := BRANCH.search(text):
        task.branch = branch.group(1)
    return task


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SolveError(f"git {' '.join(args)} failed in {root}: {result.stderr.strip()}")
    return result.stdout.strip()


class Solver:
    """Works on one issue in one worktree; every step is safe to repeat."""

    def __init__(self, task: Task, workdir: Path, say=print, env=os.environ):
        self.task = task
        self.say = say
        self.root = Path(git(workdir, "rev-parse", "--show-toplevel"))
        repository = task.repository or env.get("GITHUB_REPOSITORY") or DEFAULT_REPOSITORY
        api_url = env.get("GITHUB_API_URL", "")
        if not api_url:
            raise SolveError("GITHUB_API_URL is not set; start the agent with the forge's URL")
        self.forge = Forge(api_url, env.get("GITHUB_TOKEN", ""), repository)
        self.sample: issues.SampleIssue | None = None

    def lookup(self) -> issues.SampleIssue:
        found = self.forge.call("GET", f"/issues/{self.task.number}")
        self.issue_state = found.get("state", "open")
        self.sample = issues.find(found.get("title", ""))
        if self.sample is None:
            raise SolveError(
                f"#{self.task.number} ({found.get('title')!r}) is not one of the sample "
                "issues; the scripted agent only knows how to fix those"
            )
        return self.sample

    def fix_and_commit(self) -> bool:
        """Make the fix, test it and commit it; returns whether it was committed before."""
        assert self.sample
        self._checkout_branch()
        committed_before = issues.fix_applied(self.sample, self.root) and not git(
            self.root, "status", "--porcelain", "--", *self.sample.paths()
        )
        changed = issues.apply_fix(self.sample, self.root)
        if changed:
            self.say(f"Edited {', '.join(changed)}")
        self.run_tests()
        git(self.root, "add", "--", *self.sample.paths())
        staged = git(self.root, "diff", "--cached", "--name-only")
        if staged:
            message = f"Fix #{self.task.number}: {self.sample.title}"
            git(self.root, *self._identity(), "commit", "-q", "-m", message)
            self.say(f"Committed {git(self.root, 'rev-parse', '--short', 'HEAD')} {message}")
        return committed_before

    def run_tests(self) -> None:
        self.say("Running the tests")
        result = subprocess.run(
            [sys.executable, "-m", "unittest", "-q"],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        summary = (result.stderr.strip().splitlines() or ["no output"])[-1]
        if result.returncode != 0:
            raise SolveError(f"the tests fail in {self.root}: {summary}")
        self.say(f"Tests passed ({summary})")

    def publish(self) -> str:
        """Push, open or adopt the pull request, wait for checks, report and merge."""
        assert self.sample
        if self.issue_state == "closed":
            self.say(f"#{self.task.number} is already closed; nothing left to do")
            return "closed"
        branch = git(self.root, "rev-parse", "--abbrev-ref", "HEAD")
        base = (self.forge.call("GET", "") or {}).get("default_branch") or "main"
        git(self.root, "fetch", "-q", "origin", base)
        if git(self.root, "rev-list", "--count", f"origin/{base}..HEAD") == "0":
            # Nothing to propose: the fix is already on the default branch (an issue
            # reopened after its fix was merged). Say so and close it, as a person would.
            self.forge.call(
                "POST",
                f"/issues/{self.task.number}/comments",
                {
                    "body": f"The fix for this issue is already on `{base}`, with its test; "
                    "closing it again. Reopen with a failing example if it still fails.",
                },
            )
            self.forge.call(
                "PATCH",
                f"/issues/{self.task.number}",
                {"state": "closed", "state_reason": "completed"},
            )
            self.say(f"#{self.task.number} was already fixed on {base}; closed it")
            return "closed"
        git(self.root, "push", "-q", "-u", "origin", "HEAD")
        self.say(f"Pushed {branch} to origin")
        pull = self._pull_request(branch)
        if not pull.get("merged"):
            conclusion = self._wait_for_checks(pull["head"]["sha"])
            if conclusion not in ("success", "neutral", "skipped", None):
                self.say(f"Checks on PR #{pull['number']} concluded {conclusion}")
                return "checks-failed"
            self._comment(pull)
            self.forge.call(
                "PUT",
                f"/pulls/{pull['number']}/merge",
                {"merge_method": "merge", "commit_title": f"Merge PR #{pull['number']}"},
            )
            self.say(f"Merged PR #{pull['number']}")
        issue = self.forge.call("GET", f"/issues/{self.task.number}")
        if issue.get("state") != "closed":
            self.forge.call("PATCH", f"/issues/{self.task.number}", {"state": "closed"})
        self.say(f"#{self.task.number} is closed")
        return "merged"

    def _checkout_branch(self) -> None:
        current = git(self.root, "rev-parse", "--abbrev-ref", "HEAD")
        wanted = self.task.branch or (
            current if current not in ("HEAD", "main", "master") else f"fix/{self.task.number}"
        )
        if current == wanted:
            return
        exists = git(self.root, "rev-parse", "--verify", "-q", wanted, check=False)
        git(self.root, "checkout", "-q", *(() if exists else ("-b",)), wanted)

    def _identity(self) -> tuple[str, ...]:
        configured = git(self.root, "config", "user.email", check=False)
        return () if configured else GIT_IDENTITY

    def _pull_request(self, branch: str) -> dict:
        for pull in self.forge.call("GET", "/pulls?state=all&per_page=100") or []:
            merged = pull.get("merged") or pull.get("merged_at")
            if pull["head"]["ref"] == branch and (pull["state"] == "open" or merged):
                self.say(f"Found PR #{pull['number']} for {branch}")
                return self.forge.call("GET", f"/pulls/{pull['number']}")
        base = (self.forge.call("GET", "") or {}).get("default_branch") or "main"
        pull = self.forge.call(
            "POST",
            "/pulls",
            {
                "title": self.sample.title if self.sample else branch,
                "head": branch,
                "base": base,
                "body": f"Closes #{self.task.number}\n\nMade by the scripted agent.",
            },
        )
        self.say(f"Opened PR #{pull['number']}: {pull['title']}")
        return pull

    def _wait_for_checks(self, sha: str, timeout: float = CHECK_TIMEOUT_S) -> str | None:
        self.say(f"Waiting for checks on {sha[:7]}")
        started = time.monotonic()
        while True:
            runs = (self.forge.call("GET", f"/commits/{sha}/check-runs") or {}).get(
                "check_runs", []
            )
            waited = time.monotonic() - started
            if runs and all(run["status"] == "completed" for run in runs):
                failed = [
                    run
                    for run in runs
                    if run["conclusion"] not in ("success", "neutral", "skipped")
                ]
                names = ", ".join(f"{run['name']}: {run['conclusion']}" for run in runs)
                self.say(f"Checks completed ({names})")
                return failed[0]["conclusion"] if failed else "success"
            if not runs and waited > CHECK_GRACE_S:
                self.say("No checks are configured")
                return None
            if waited > timeout:
                raise SolveError(f"checks on {sha[:7]} did not complete within {timeout:.0f}s")
            time.sleep(0.3)

    def _comment(self, pull: dict) -> None:
        body = (
            f"Fixed in PR #{pull['number']}: {self.sample.title if self.sample else ''}. "
            "The sample's tests pass."
        )
        existing = self.forge.call("GET", f"/issues/{self.task.number}/comments") or []
        if not any(comment.get("body") == body for comment in existing):
            self.forge.call("POST", f"/issues/{self.task.number}/comments", {"body": body})
            self.say(f"Commented on #{self.task.number}")


def solve(task: Task, workdir: Path, stop_after: str | None = None, say=print) -> str:
    """All the work for one issue; returns "committed", "merged", "closed" or "checks-failed"."""
    solver = Solver(task, workdir, say)
    solver.lookup()
    solver.fix_and_commit()
    if stop_after == "commit":
        return "committed"
    return solver.publish()


# ---------------------------------------------------------------- the terminal UI

RULE = "─"
PROMPT = "❯\u00a0"
BRAILLE = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
BRACKETED_START, BRACKETED_END = "\x1b[200~", "\x1b[201~"


class Screen:
    """What the pane shows: a transcript, maybe a spinner line, and the input box."""

    def __init__(self, out_fd: int):
        self.out_fd = out_fd
        self.lock = threading.Lock()
        self.transcript: list[str] = ["● Scripted agent ready. Give it an issue to work on."]
        self.segments: list[list[str]] = []  # [shown, sent] pairs: typed text and pastes
        self.pastes = 0
        self.busy_label = ""
        self.busy_since = 0.0
        self.frame = 0
        self.title = ""

    def say(self, line: str) -> None:
        with self.lock:
            plain = line.startswith(("●", "❯ "))
            self.transcript.append(line if plain else f"  ⎿  {line}")

    def draft_text(self) -> str:
        return "".join(sent for _, sent in self.segments)

    def type_text(self, text: str) -> None:
        if self.segments and self.segments[-1][0] == self.segments[-1][1]:
            self.segments[-1][0] += text
            self.segments[-1][1] += text
        else:
            self.segments.append([text, text])

    def paste(self, text: str) -> None:
        self.pastes += 1
        lines = max(1, text.count("\n"))
        self.segments.append([f"[Pasted text #{self.pastes} +{lines} lines]", text])

    def backspace(self) -> None:
        if not self.segments:
            return
        shown, sent = self.segments[-1]
        if shown != sent or len(shown) <= 1:
            self.segments.pop()
        else:
            self.segments[-1] = [shown[:-1], sent[:-1]]

    def take_draft(self) -> str:
        text = self.draft_text()
        self.segments = []
        return text

    def draw(self) -> None:
        columns, rows = shutil.get_terminal_size((100, 30))
        with self.lock:
            busy = bool(self.busy_label)
            box = [
                RULE * columns,
                PROMPT + "".join(shown for shown, _ in self.segments),
                RULE * columns,
                "  esc to interrupt" if busy else "  ? for shortcuts",
            ]
            above = [""]
            if busy:
                elapsed = int(time.monotonic() - self.busy_since)
                above.append(f"✻ {self.busy_label}… ({elapsed}s · esc to interrupt)")
            room = max(0, rows - len(box) - len(above))
            lines = self.transcript[-room:] + above + box if room else above + box
            self.frame += 1
            title = (
                f"{BRAILLE[self.frame % len(BRAILLE)]} {self.busy_label}"
                if busy
                else ("✳ Scripted agent")
            )
        # Overwrite in place line by line, so a capture never sees a blank screen.
        frame = (
            "\x1b[H"
            + "".join(f"{line[:columns]}\x1b[K\r\n" for line in lines[:-1])
            + f"{lines[-1][:columns]}\x1b[K\x1b[J"
        )
        if title != self.title:
            frame = f"\x1b]0;{title}\x07" + frame
            self.title = title
        os.write(self.out_fd, frame.encode())


class Keys:
    """Turns bytes from the terminal into typed text, pastes and keys, as Claude Code does."""

    def __init__(self):
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.in_bracketed: list[str] | None = None

    def events(self, data: bytes) -> list[tuple[str, str]]:
        text = self.decoder.decode(data)
        events: list[tuple[str, str]] = []
        if self.in_bracketed is None and BRACKETED_START not in text and len(text) >= PASTE_BURST:
            # A burst this long came from a paste, not a person: its Enter is part of it.
            events.append(("paste", text.replace("\r\n", "\n").replace("\r", "\n")))
            return events
        i = 0
        while i < len(text):
            if self.in_bracketed is not None:
                end = text.find(BRACKETED_END, i)
                if end < 0:
                    self.in_bracketed.append(text[i:])
                    break
                self.in_bracketed.append(text[i:end])
                events.append(("paste", "".join(self.in_bracketed).replace("\r", "\n")))
                self.in_bracketed = None
                i = end + len(BRACKETED_END)
                continue
            if text.startswith(BRACKETED_START, i):
                self.in_bracketed = []
                i += len(BRACKETED_START)
                continue
            char = text[i]
            if char == "\x1b":
                i = self._skip_escape(text, i)
                continue
            if char in "\r\n":
                events.append(("enter", ""))
            elif char in "\x7f\x08":
                events.append(("backspace", ""))
            elif char == "\x15":
                events.append(("clear", ""))
            elif char == "\x03":
                events.append(("interrupt", ""))
            elif char == "\x04":
                events.append(("eof", ""))
            elif char >= " ":
                if events and events[-1][0] == "text":
                    events[-1] = ("text", events[-1][1] + char)
                else:
                    events.append(("text", char))
            i += 1
        return events

    @staticmethod
    def _skip_escape(text: str, i: int) -> int:
        if text.startswith("[", i + 1):
            j = i + 2
            while j < len(text) and not "\x40" <= text[j] <= "\x7e":
                j += 1
            return j + 1
        return i + 2 if i + 1 < len(text) else i + 1


class Agent:
    """The UI loop: read keys, draw, and run each submitted prompt in a worker thread."""

    def __init__(self, workdir: Path, in_fd: int = 0, out_fd: int = 1, env=os.environ):
        self.workdir = workdir
        self.in_fd = in_fd
        self.env = env
        self.screen = Screen(out_fd)
        self.keys = Keys()
        self.queue: list[str] = []
        self.worker: threading.Thread | None = None
        self.task: Task | None = None
        self.stalled: set[int] = set()
        self.last_interrupt = 0.0
        self.running = True

    def run(self) -> int:
        saved = termios.tcgetattr(self.in_fd) if os.isatty(self.in_fd) else None
        signal.signal(signal.SIGTERM, lambda *_: self.stop())
        if saved:
            tty.setraw(self.in_fd)
        os.write(self.screen.out_fd, b"\x1b[?2004h\x1b[2J")
        try:
            while self.running:
                self.screen.draw()
                ready, _, _ = select.select([self.in_fd], [], [], 0.1)
                if ready:
                    self._read_burst()
                if self.worker and not self.worker.is_alive():
                    self.worker = None
                if self.queue and not self.worker:
                    self._start(self.queue.pop(0))
        finally:
            os.write(self.screen.out_fd, b"\x1b[?2004l\r\n")
            if saved:
                termios.tcsetattr(self.in_fd, termios.TCSADRAIN, saved)
        return 0

    def stop(self) -> None:
        self.running = False

    def _read_burst(self) -> None:
        # Collect what arrives together: a paste comes as one burst, a person types slower.
        data = os.read(self.in_fd, 65536)
        while data and select.select([self.in_fd], [], [], 0.005)[0]:
            more = os.read(self.in_fd, 65536)
            if not more:
                break
            data += more
        if not data:
            self.stop()
            return
        for kind, value in self.keys.events(data):
            self._handle(kind, value)

    def _handle(self, kind: str, value: str) -> None:
        screen = self.screen
        if kind == "text":
            screen.type_text(value)
        elif kind == "paste":
            screen.paste(value)
        elif kind == "backspace":
            screen.backspace()
        elif kind == "clear":
            screen.take_draft()
        elif kind == "enter":
            prompt = screen.take_draft().strip()
            if prompt:
                first = prompt.splitlines()[0]
                screen.say(f"❯ {first[:200]}")
                self.queue.append(prompt)
        elif kind == "interrupt":
            now = time.monotonic()
            if screen.draft_text():
                screen.take_draft()
            elif now - self.last_interrupt < 2.0:
                self.stop()
            else:
                screen.say("Press Ctrl-C again to exit")
            self.last_interrupt = now
        elif kind == "eof" and not screen.draft_text():
            self.stop()

    def _start(self, prompt: str) -> None:
        self.worker = threading.Thread(target=self._work, args=(prompt,), daemon=True)
        self.worker.start()

    def _work(self, prompt: str) -> None:
        screen = self.screen
        task = parse_prompt(prompt)
        if task:
            self.task = task
        elif self.task is None:
            screen.say("● I work on issues. Give me one, like: Please fix issue #3.")
            return
        task = self.task
        with screen.lock:
            screen.busy_label = f"Working on #{task.number}"
            screen.busy_since = time.monotonic()
        started = time.monotonic()
        try:
            outcome = self._solve(task)
            closing = {
                "committed": "Committed the fix.",
                "checks-failed": "The checks failed; tell me to try again.",
            }.get(outcome, f"Done: #{task.number} is fixed, merged and closed.")
            screen.say(f"● {closing}")
        except (SolveError, LookupError) as error:
            log.warning("work on #%s failed: %s", task.number, error)
            screen.say(f"● Could not finish #{task.number}: {error}")
        finally:
            with screen.lock:
                screen.busy_label = ""
            screen.say(f"● ✻ Worked for {int(time.monotonic() - started)}s")

    def _solve(self, task: Task) -> str:
        # A real agent reads and thinks before it edits; a short pause makes the
        # demo's busy phase visible to the supervisor and to a person watching.
        think = float(self.env.get("SCRIPTED_AGENT_THINK_S", "") or 0)
        if think > 0:
            self.screen.say(f"● Reading #{task.number} and the code")
            time.sleep(think)
        solver = Solver(task, self.workdir, self.screen.say, self.env)
        sample = solver.lookup()
        committed_before = solver.fix_and_commit()
        wants_stall = sample.stalls or self.env.get("SCRIPTED_AGENT_STALL", "") not in ("", "0")
        if wants_stall and not committed_before and task.number not in self.stalled:
            self.stalled.add(task.number)
            return "committed"
        return solver.publish()


# ---------------------------------------------------------------- commands


def register(group) -> None:
    agent = group.add_parser("agent", help="the scripted agent's terminal UI (for the demo)")
    agent.add_argument("--workdir", default=".", help="the worktree to work in (default: .)")
    agent.set_defaults(func=run_agent)
    solve_parser = group.add_parser("solve", help="the scripted agent's work on one issue")
    add_solve_arguments(solve_parser)
    solve_parser.set_defaults(func=run_solve)


def _issue_number(text: str) -> int:
    """An argparse type: an issue number, 1 or more."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"an issue number is a whole number from 1 up, not {text!r}"
        )
    return int(text)


def add_solve_arguments(parser) -> None:
    parser.add_argument("--issue", type=_issue_number, required=True, help="the issue number")
    parser.add_argument("--repo", default="", help="owner/name (default: $GITHUB_REPOSITORY)")
    parser.add_argument("--branch", default="", help="the branch (default: the current one)")
    parser.add_argument("--workdir", default=".", help="the worktree (default: .)")
    parser.add_argument("--stop-after", choices=["commit"], default=None)


def run_agent(args) -> int:
    return Agent(Path(args.workdir).resolve()).run()


def run_solve(args) -> int:
    task = Task(args.issue, args.repo, args.branch)
    try:
        outcome = solve(
            task,
            Path(args.workdir).resolve(),
            args.stop_after,
            say=lambda line: print(line, flush=True),
        )
    except (SolveError, LookupError) as error:
        print(f"solve: #{args.issue}: {error}", file=sys.stderr)
        return 1
    print(f"outcome: {outcome}")
    return 0 if outcome in ("committed", "merged", "closed") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller.sandbox.agent")
    commands = parser.add_subparsers(dest="command")
    tui = commands.add_parser("agent", help="the terminal UI (the default)")
    tui.add_argument("--workdir", default=".")
    tui.set_defaults(func=run_agent)
    add_solve_arguments(commands.add_parser("solve", help="the work on one issue"))
    args = parser.parse_args(argv)
    if args.command == "solve":
        return run_solve(args)
    if args.command is None:
        args.workdir = "."
    return run_agent(args)


if __name__ == "__main__":
    sys.exit(main())
