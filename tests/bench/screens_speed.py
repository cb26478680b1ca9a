"""How long one classification takes on full-size screens (not a test).

Run with `python -m tests.bench.screens_speed`. The reconciler classifies every pane
on every pass, so this should stay well under a millisecond per 200x50 screen.
"""

from __future__ import annotations

import statistics
import time

from controller.screens import classify, load_profile
from tests.screens import captures

SCREENS = [
    "07-main-idle-prompt-settled",
    "h09a-busy-subagent-running-5s",
    "10-permission-prompt-bash",
    "h14a-draft-multiline-bracketed-paste",
    "63-ask-user-question-menu",
    "71-in-bash-after-exit-shell-prompt",
]


def main(rounds: int = 2000) -> None:
    profile = load_profile("claude-code")
    print(f"{'capture':45} {'median µs':>10} {'p99 µs':>8}  reading")
    for name in SCREENS:
        text, ansi, meta = captures.text(name), captures.ansi(name), captures.meta(name)
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            reading = classify(text, profile, ansi=ansi, **meta)
            timings.append((time.perf_counter() - start) * 1e6)
        timings.sort()
        print(
            f"{name:45} {statistics.median(timings):10.1f} "
            f"{timings[int(len(timings) * 0.99)]:8.1f}  {reading}"
        )


if __name__ == "__main__":
    main()
