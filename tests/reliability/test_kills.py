"""SIGKILL at every crash point and at random times, then a restart: nothing twice, nothing lost.

A crash point is a named place between two side effects where the controller kills
itself when `CONTROLLER_CRASH_AT` names it (see `controller.faults`). After the kill a
plain restart must finish every issue, and `Rig.check` must find one branch, worktree,
session and pull request per issue and every state file equal to its last audit commit.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from controller.faults import POINTS
from tests.helpers import wait_for
from tests.reliability.conftest import SOAK
from tests.reliability.figures import FIGURES

# Which sample issue each point runs on, so the suite covers more than one fix.
_SAMPLE_FOR = {point: (0, 2, 3, 4, 5)[i % 5] for i, point in enumerate(POINTS)}


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_crash_point_then_restart(rig, point):
    numbers = rig.file_samples((_SAMPLE_FOR[point],))
    first = rig.start(crash_at=point)
    code = first.wait(timeout=120)
    assert code == -signal.SIGKILL, f"did not crash at {point}:\n{rig.log()[-3000:]}"
    FIGURES.add(kills=1)

    second = rig.start()
    rig.wait_closed(numbers, timeout=150, proc=second)
    assert rig.stop(second) == 0
    rig.check(numbers)


def test_random_kills_during_a_demo_sized_run(rig):
    """Kill the controller at random moments of a three-issue run, restart at once."""
    rounds = 40 if SOAK else 6
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    numbers = rig.file_samples((0, 1, 2))
    kills = 0
    for _ in range(rounds):
        if rig.all_closed(numbers):
            break
        proc = rig.start()
        # A random moment is the point of this test; nothing is awaited by sleeping.
        time.sleep(chance.uniform(0.3, 4.0))
        if proc.poll() is not None:
            raise AssertionError(f"the controller exited (seed {seed}):\n{rig.log()[-3000:]}")
        rig.kill(proc)
        kills += 1
    FIGURES.add(kills=kills)
    started = rig.log().count("controller running on")
    final = rig.start()
    rig.wait_closed(numbers, timeout=180, proc=final)
    # Stopped only once it has started (a signal during Python's own start-up, before
    # any handler can exist, would end it with the default action).
    wait_for(
        lambda: rig.log().count("controller running on") > started,
        timeout=30,
        message="the last controller to start",
    )
    assert rig.stop(final) == 0
    rig.check(numbers)
