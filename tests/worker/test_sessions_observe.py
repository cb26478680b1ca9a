"""One tmux launch per poll: the listing and the screens together."""

from __future__ import annotations

from controller.sessions import Sessions
from tests.helpers import wait_for

SHOW = "printf 'screen of %s\\n' \"$0\"; exec sleep 60"


def test_observe_lists_and_captures_in_one_call_and_survives_a_missing_session(
    tmux_socket, tmp_path
):
    sessions = Sessions(tmux_socket, width=80, height=10)
    for name in ("worker-1", "worker-12"):
        sessions.start(name, tmp_path, ["sh", "-c", SHOW, name], {"PATH": "/usr/bin:/bin"})
    wait_for(lambda: "screen of worker-12" in sessions.capture("worker-12"), timeout=10)

    calls = []
    real_cmd = sessions._server.cmd
    sessions._server.cmd = lambda *args: calls.append(args) or real_cmd(*args)
    panes, screens = sessions.observe(["worker-1", "worker-12"])
    assert len(calls) == 1
    assert set(panes) == {"worker-1", "worker-12"}
    assert screens["worker-1"].startswith("screen of worker-1")
    assert screens["worker-12"].startswith("screen of worker-12")

    sessions.stop("worker-1")
    panes, screens = sessions.observe(["worker-1", "worker-12"])
    assert set(panes) == {"worker-12"} and set(screens) == {"worker-12"}
    assert screens["worker-12"].startswith("screen of worker-12")
