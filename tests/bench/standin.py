"""A stand-in agent for the benchmarks: Claude Code's screen, no work, told busy or idle.

The scripted agent of the sandbox redraws ten times a second and does real git work;
the benchmarks need an agent whose screen changes only when something happens, so the
supervisor's own cost can be told apart from the agent's. It draws the same input box
as the scripted agent (so the `scripted` profile reads it), goes busy when a prompt is
submitted, and switches on signals: SIGUSR1 makes it busy, SIGUSR2 idle. While busy its
spinner line changes once a second, as a working agent's elapsed-time counter does.

Every submitted prompt is appended to the file named by BENCH_AGENT_LOG as
`<epoch seconds> <first line>`, which is how the benchmarks time the controller.

    python tests/bench/standin.py      (run by the controller, in the agent's worktree)
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from controller.sandbox.agent import Keys, Screen

BUSY_LABEL = "Working"


class StandIn:
    def __init__(self, log_path: str):
        self.log_path = log_path
        self.screen = Screen(sys.stdout.fileno())
        self.screen.transcript = ["● Stand-in agent ready."]
        self.keys = Keys()
        self.wanted: str | None = None  # "busy" or "idle", set by a signal
        self.running = True

    def set_busy(self, busy: bool) -> None:
        with self.screen.lock:
            self.screen.busy_label = BUSY_LABEL if busy else ""
            self.screen.busy_since = time.monotonic()

    def on_prompt(self, prompt: str) -> None:
        first = prompt.splitlines()[0][:120] if prompt else ""
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"{time.time():.6f} {first}\n")
        self.screen.say(f"❯ {first}")
        self.set_busy(True)

    def handle(self, data: bytes) -> None:
        for kind, value in self.keys.events(data):
            if kind == "text":
                self.screen.type_text(value)
            elif kind == "paste":
                self.screen.paste(value)
            elif kind == "backspace":
                self.screen.backspace()
            elif kind == "clear":
                self.screen.take_draft()
            elif kind == "enter":
                prompt = self.screen.take_draft().strip()
                if prompt:
                    self.on_prompt(prompt)
            elif kind == "eof":
                self.running = False

    def run(self) -> int:
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None
        if saved:
            tty.setraw(fd)
        signal.signal(signal.SIGUSR1, lambda *_: setattr(self, "wanted", "busy"))
        signal.signal(signal.SIGUSR2, lambda *_: setattr(self, "wanted", "idle"))
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        os.write(self.screen.out_fd, b"\x1b[?2004h\x1b[2J")
        drawn = None
        try:
            while self.running:
                if self.wanted is not None:
                    self.set_busy(self.wanted == "busy")
                    self.wanted = None
                busy = bool(self.screen.busy_label)
                look = (
                    busy,
                    int(time.monotonic() - self.screen.busy_since) if busy else 0,
                    self.screen.draft_text(),
                    len(self.screen.transcript),
                )
                if look != drawn:
                    self.screen.draw()
                    drawn = look
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    data = os.read(fd, 65536)
                    while data and select.select([fd], [], [], 0.005)[0]:
                        more = os.read(fd, 65536)
                        if not more:
                            break
                        data += more
                    if not data:
                        break
                    self.handle(data)
        finally:
            if saved:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        return 0


if __name__ == "__main__":
    sys.exit(StandIn(os.environ.get("BENCH_AGENT_LOG", "")).run())
