"""Waiting for a pane's exit status despite a tmux that sometimes misses it."""

from __future__ import annotations

import os
import signal

from controller.sessions import PaneInfo, Sessions
from tests.helpers import wait_for
from tests.worker.exposure import tmux_server_pid


def wait_for_exit_status(sessions: Sessions, name: str, timeout: float = 10.0) -> PaneInfo:
    """The dead pane of session `name`, once tmux knows how its program ended.

    A tmux built with libutempter can miss the SIGCHLD of a pane that exits while
    utempter's helper runs; the pane is then dead without a status until another child
    of the server ends. Another SIGCHLD makes it look again, as the tmux maintainers
    advise for this case.
    """

    def status() -> PaneInfo | None:
        pane = sessions.list()[name]
        if pane.dead and pane.dead_status is None:
            server = tmux_server_pid(sessions.socket)
            if server:
                os.kill(server, signal.SIGCHLD)
            return None
        return pane if pane.dead else None

    return wait_for(status, timeout=timeout, message=f"{name}'s exit status")
