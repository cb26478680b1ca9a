"""What wakes the reconciler during `controller run`: file events and timers.

A hand edit of a state file should take effect within about a second, so a watchdog
observer on the state directory wakes the loop at once; panes are read on a short
timer and GitHub on a longer one (cheap, thanks to conditional requests). The loop
never sleeps through a stop request: SIGINT, SIGTERM and SIGHUP finish the write in
progress and return, and the agents keep running for the next start to adopt.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from controller.store import LockLost

log = logging.getLogger(__name__)


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event):
        self.event = event

    def on_any_event(self, event: FileSystemEvent) -> None:
        path = str(getattr(event, "dest_path", "") or event.src_path)
        name = Path(path).name
        if name.startswith("issue-") and name.endswith(".yaml"):
            self.event.set()


class _StopRace(logging.Filter):
    """Drops watchdog's error for its emitter running once more after its observer stopped.

    Stopping an observer while an event is being read makes that last read find the
    watch gone, which watchdog logs as an error. It means nothing here (the loop has
    ended), and an ERROR line on every clean stop would teach people to ignore them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_StopRace())


class StateDirWatcher:
    """Sets an event whenever an `issue-N.yaml` file in the state directory changes."""

    def __init__(self, state_dir: Path):
        self.wake = threading.Event()
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_Wake(self.wake), str(state_dir), recursive=False)
        self._observer.start()

    def wait(self, timeout: float) -> bool:
        woke = self.wake.wait(max(0.0, timeout))
        self.wake.clear()
        return woke

    def close(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)


# Errors that say the disk (not the controller) is at fault: they last until a person
# acts, so they are said once as what to do, not as a traceback on every pass.
_DISK_ERRNOS = {
    errno.EROFS: "mount it read-write",
    errno.ENOSPC: "free some space on its disk",
    errno.EDQUOT: "free some space or raise this user's disk quota",
    errno.EACCES: "let this user write there (fix its owner or permissions)",
    errno.EPERM: "let this user write there (fix its owner or permissions)",
}


def disk_problem(error: BaseException, state_dir: Path) -> tuple[int | str, str] | None:
    """(errno, one line saying what and what to do) when `error` is a disk condition, or
    ("lock", that line) when the state directory is not the one this controller locked."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, LockLost):
            return "lock", str(current)
        number = getattr(current, "errno", None)
        if number in _DISK_ERRNOS:
            where = getattr(current, "filename", None) or state_dir
            why = getattr(current, "strerror", None) or os.strerror(number)
            return number, (
                f"{where}: cannot be written ({why}); {_DISK_ERRNOS[number]}; the "
                "controller keeps running and carries on once it can write there again"
            )
        current = current.__cause__ or current.__context__
    return None


class _PassFailures:
    """Says each lasting failure once: a disk condition as one line, a bug as one traceback."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.disk: int | str | None = None  # the disk condition being waited out
        self.bug: tuple[str, str] | None = None
        self.repeats = 0

    def failed(self, error: Exception) -> None:
        problem = disk_problem(error, self.state_dir)
        if problem is not None:
            number, line = problem
            if self.disk != number:
                log.error("%s", line)
                self.disk = number
            else:
                log.debug("the pass waits for the disk again: %s", line)
            return
        signature = (type(error).__name__, " ".join(str(error).split())[:300])
        if signature != self.bug:
            self.bug, self.repeats = signature, 0
            # One failed pass (tmux or git unreachable for a moment) must not end an
            # unattended controller: nothing was decided from the failed read, and the
            # next pass observes the world again.
            log.exception("the pass failed; the next one starts over")
            return
        self.repeats += 1
        log.error(
            "the pass failed again (%d times in a row, traceback above): %s: %s",
            self.repeats + 1,
            *signature,
        )

    def passed(self) -> None:
        if self.disk == "lock":
            log.info("%s is the folder this controller locked again; carrying on", self.state_dir)
        elif self.disk is not None:
            log.info("%s can be written again; carrying on", self.state_dir)
        elif self.bug is not None and self.repeats:
            log.info("a pass succeeded again after %d failed ones", self.repeats + 1)
        self.disk = self.bug = None
        self.repeats = 0


def run_forever(
    run_pass: Callable[[bool], object],
    state_dir: Path,
    *,
    pane_interval: float,
    github_interval: float,
    stop: threading.Event,
    on_pass: Callable[[object], None] | None = None,
) -> None:
    """Call `run_pass(refresh_github)` whenever something may have changed, until `stop`."""
    watcher = StateDirWatcher(state_dir)
    said = _PassFailures(state_dir)
    next_github = 0.0
    failures = 0
    try:
        while not stop.is_set():
            refresh = time.monotonic() >= next_github
            if refresh:
                next_github = time.monotonic() + github_interval
            failed = False
            try:
                report = run_pass(refresh)
            except Exception as error:
                if stop.is_set():
                    # The stop signal reached the whole process group (Ctrl-C in a
                    # terminal, a service manager's stop), so the tmux or git the pass
                    # was waiting on died of it: an end, not a fault.
                    log.info(
                        "stopping: the pass in progress was cut short (%s)",
                        " ".join(str(error).split())[:300],
                    )
                    break
                said.failed(error)
                failed = True
            else:
                said.passed()
            failures = failures + 1 if failed else 0
            if on_pass is not None and not failed:
                on_pass(report)
            timeout = min(pane_interval, max(0.0, next_github - time.monotonic()))
            if failures:
                # A fault that persists is retried ever more slowly, but a disk made
                # writable again is noticed within seconds.
                longest = 5.0 if said.disk is not None else 30.0
                timeout = min(longest, pane_interval * 2**failures)
            deadline = time.monotonic() + timeout
            while not stop.is_set() and time.monotonic() < deadline:
                if watcher.wait(min(0.2, deadline - time.monotonic())):
                    break
    finally:
        watcher.close()


# SIGHUP is the terminal closing under a controller started in it: a stop like the others,
# not an end that leaves no word in the log.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signals(stop: threading.Event, on_stop: Callable[[], None] | None = None) -> None:
    """SIGINT, SIGTERM and SIGHUP set `stop`; the pass in progress finishes its current write."""

    def handler(signum, _frame):
        log.info("received %s; stopping after the current write", signal.Signals(signum).name)
        stop.set()
        if on_stop is not None:
            on_stop()

    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
