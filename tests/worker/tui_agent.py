"""A stand-in for an agent's input box, for prompt delivery tests.

It draws a box like Claude Code's (a `❯` + no-break space input line between two rules,
a footer below), echoes what is typed into it, and treats input the way Claude Code
does: a bracketed paste, or one read of 64 characters or more, is a paste whose Enter
is dropped and which shows as `[Pasted text #N +L lines]`; a real Enter submits, shows
a spinner line with `esc to interrupt` for a moment, and appends the submitted text as
one JSON line to the log file, so a test can check it arrived intact and once.

Usage: tui_agent.py LOG [--drop-enters N] [--busy-s S]
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import select
import shutil
import sys
import termios
import time
import tty

PASTE_START = "\x1b[200~"
PASTE_END = "\x1b[201~"
BURST = 64


class Box:
    def __init__(self, log: str, drop_enters: int, busy_s: float):
        self.log = log
        self.drop_enters = drop_enters
        self.busy_s = busy_s
        self.text = ""
        self.pastes = 0
        self.pasted_lines: list[int] = []
        self.busy_until = 0.0
        self.submitted = 0
        self.in_paste = False
        self.paste = ""

    def busy(self) -> bool:
        return time.monotonic() < self.busy_until

    def shown(self) -> str:
        if self.pasted_lines:
            placeholders = " ".join(
                f"[Pasted text #{i + 1} +{n} lines]" for i, n in enumerate(self.pasted_lines)
            )
            return placeholders
        return self.text

    def add_paste(self, text: str) -> None:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        self.text += text
        self.pastes += 1
        self.pasted_lines.append(text.count("\n"))

    def submit(self) -> None:
        if not self.text:
            return
        if self.drop_enters > 0:
            self.drop_enters -= 1
            return
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(json.dumps(self.text) + "\n")
        self.submitted += 1
        self.text = ""
        self.pasted_lines = []
        self.busy_until = time.monotonic() + self.busy_s

    def feed(self, chunk: str) -> None:
        burst = len(chunk) >= BURST and PASTE_START not in chunk and not self.in_paste
        if burst:
            self.add_paste(chunk.removesuffix("\r"))
            return
        while chunk:
            if self.in_paste:
                end = chunk.find(PASTE_END)
                if end < 0:
                    self.paste += chunk
                    return
                self.paste += chunk[:end]
                self.add_paste(self.paste)
                self.paste = ""
                self.in_paste = False
                chunk = chunk[end + len(PASTE_END) :]
                continue
            if chunk.startswith(PASTE_START):
                self.in_paste = True
                chunk = chunk[len(PASTE_START) :]
                continue
            char, chunk = chunk[0], chunk[1:]
            if char == "\r":
                self.submit()
            elif char == "\x15":
                self.text = ""
                self.pasted_lines = []
            elif char == "\x7f":
                self.text = self.text[:-1]
            elif char == "\x1b":
                self.busy_until = 0.0
            elif char == "\n" or char >= " ":
                self.text += char

    def draw(self) -> None:
        width, height = shutil.get_terminal_size((80, 24))
        rule = "─" * width
        lines = ["tui agent ready", ""]
        lines += [f"● received {self.submitted} prompts", ""]
        if self.busy():
            lines.append("✻ Working… (1s · esc to interrupt)")
        lines.append("")
        lines.append(rule)
        shown = self.shown().split("\n")
        lines.append("❯\u00a0" + shown[0][: width - 2])
        lines += ["  " + part[: width - 2] for part in shown[1:]]
        lines.append(rule)
        lines.append("  ? for shortcuts")
        title = "⠂ tui agent" if self.busy() else "✳ tui agent"
        out = [f"\x1b]2;{title}\x07", "\x1b[H\x1b[2J"]
        out.append("\r\n".join(line for line in lines[: height - 1]))
        sys.stdout.write("".join(out))
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--drop-enters", type=int, default=0)
    parser.add_argument("--busy-s", type=float, default=1.0)
    args = parser.parse_args()

    box = Box(args.log, args.drop_enters, args.busy_s)
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    sys.stdout.write("\x1b[?2004h")
    try:
        was_busy = False
        box.draw()
        while True:
            ready, _, _ = select.select([0], [], [], 0.1)
            if ready:
                data = os.read(0, 65536)
                if not data:
                    return 0
                box.feed(decoder.decode(data))
                box.draw()
            elif was_busy != box.busy():
                box.draw()
            was_busy = box.busy()
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main())
