"""How `controller run` stops and waits, as a person sees it in its log."""

from __future__ import annotations

import signal

import pytest

pytestmark = pytest.mark.e2e


def test_sighup_stops_run_like_sigterm_and_the_agents_keep_running(sandbox):
    number = sandbox.file("slug-dashes")
    process = sandbox.start()
    sandbox.wait_state(number, "spawned", "working", timeout=60)
    process.send_signal(signal.SIGHUP)  # its terminal closed
    assert process.wait(timeout=30) == 0, sandbox.log()[-3000:]
    log = sandbox.log()
    assert "received SIGHUP; stopping after the current write" in log, log[-3000:]
    assert "Traceback" not in log
    assert sandbox.sessions() == [f"worker-{number}"]
