"""The loop of `controller run`: a pass that fails goes on, a stop ends it quietly."""

from __future__ import annotations

import logging
import threading

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
