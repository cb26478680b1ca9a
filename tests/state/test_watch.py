"""The loop of `controller run`: a pass that fails goes on, a stop ends it quietly."""

from __future__ import annotations

import errno
import logging
import threading

from controller.store import StoreError, StoreUnwritable
from controller.watch import run_forever


def _run(tmp_path, run_pass, stop):
    run_forever(run_pass, tmp_path, pane_interval=0.01, github_interval=1, stop=stop)


def test_a_failed_pass_is_logged_and_the_next_one_runs(tmp_path, caplog):
    stop = threading.Event()
    calls = []

    def run_pass(refresh):
        calls.append(refresh)
        if len(calls) == 1:
            raise RuntimeError("tmux unreachable")
        stop.set()

    with caplog.at_level(logging.INFO, logger="controller.watch"):
        _run(tmp_path, run_pass, stop)
    assert len(calls) == 2
    (failed,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "the pass failed" in failed.getMessage() and failed.exc_info


def test_a_pass_cut_short_by_the_stop_signal_ends_the_loop_without_an_error(tmp_path, caplog):
    # The signal that stops the controller also killed the tmux client the pass waited on.
    stop = threading.Event()
    calls = []

    def run_pass(refresh):
        calls.append(refresh)
        stop.set()
        raise RuntimeError("tmux -L x list-panes failed:\n")

    with caplog.at_level(logging.INFO, logger="controller.watch"):
        _run(tmp_path, run_pass, stop)
    assert len(calls) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "stopping: the pass in progress was cut short (tmux -L x list-panes failed:)" in (
        caplog.text
    )


def test_watchdogs_error_for_its_own_stop_race_is_dropped_and_no_other(caplog):
    inotify = logging.getLogger("watchdog.observers.inotify")
    with caplog.at_level(logging.WARNING, logger="watchdog.observers.inotify"):
        inotify.error("InotifyEmitter.queue_events() called when the thread is inactive")
        inotify.error("some other trouble")
    assert [r.getMessage() for r in caplog.records] == ["some other trouble"]


def test_a_lasting_disk_fault_is_one_line_and_its_end_one_more(tmp_path, caplog):
    stop = threading.Event()
    calls = []

    def run_pass(refresh):
        calls.append(refresh)
        if len(calls) <= 4:
            lock = tmp_path / ".controller" / "write.lock"
            raise OSError(errno.EROFS, "Read-only file system", str(lock))
        if len(calls) == 6:
            stop.set()

    with caplog.at_level(logging.INFO, logger="controller.watch"):
        _run(tmp_path, run_pass, stop)
    said = [(r.levelno, r.getMessage(), r.exc_info) for r in caplog.records]
    assert said == [
        (
            logging.ERROR,
            f"{tmp_path / '.controller' / 'write.lock'}: cannot be written (Read-only file "
            "system); mount it read-write; the controller keeps running and carries on once "
            "it can write there again",
            None,
        ),
        (logging.INFO, f"{tmp_path} can be written again; carrying on", None),
    ]


def test_a_full_disk_behind_a_store_error_says_what_to_do(tmp_path, caplog):
    stop = threading.Event()
    calls = []
    full = StoreUnwritable("x", OSError(errno.ENOSPC, "No space left on device"), tmp_path)

    def run_pass(refresh):
        calls.append(refresh)
        if len(calls) == 3:
            stop.set()
            return
        raise StoreError("the write failed") from full

    with caplog.at_level(logging.INFO, logger="controller.watch"):
        _run(tmp_path, run_pass, stop)
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith(f"{tmp_path}: cannot be written (No space left on device); free")


def test_a_bug_that_repeats_gets_one_traceback_then_short_lines(tmp_path, caplog):
    stop = threading.Event()
    calls = []

    def run_pass(refresh):
        calls.append(refresh)
        if len(calls) == 5:
            stop.set()
            return
        raise KeyError("issue")

    with caplog.at_level(logging.INFO, logger="controller.watch"):
        _run(tmp_path, run_pass, stop)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 4
    assert errors[0].exc_info and not any(r.exc_info for r in errors[1:])
    assert [r.getMessage() for r in errors[1:]] == [
        f"the pass failed again ({n} times in a row, traceback above): KeyError: 'issue'"
        for n in (2, 3, 4)
    ]
    assert "a pass succeeded again after 4 failed ones" in caplog.text
