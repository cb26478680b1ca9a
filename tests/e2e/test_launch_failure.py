"""A launch that fails tells why: `status` and the state file carry the agent's last words."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_status_says_why_an_agent_did_not_start(sandbox):
    number = sandbox.file("slug-dashes")
    sandbox.configure(agent={"command": "no-such-agent-binary --go"})
    result = sandbox.controller("reconcile")
    assert result.returncode == 0, result.stderr

    error = sandbox.state(number)["error"]
    # tmux does not always learn the exit status; the agent's last words are there.
    head, _, rest = error.partition(": agent exited")
    assert head == "launch failed" and rest.split(": ", 1)[0] in ("", " 127"), error
    assert "command not found: 'no-such-agent-binary'; check agent.command" in error
    assert "\n" not in error
    # `status` shows the start of an error: the cause, not the screen's class.
    status = sandbox.controller("status")
    assert "launch failed: agent exited" in status.stdout, status.stdout
    assert "command not" in status.stdout, status.stdout
