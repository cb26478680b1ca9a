"""Clock jumps: the machine's time set back or forward must not fire timers early or never.

The stall timer counts from `pane_since` and the backoff waits until `retry_at`, both
wall-clock times in the state file. Within one process the reconciler's clock is
steady (wall time at start plus monotonic time), so a jump changes nothing; a state
file written before the clock was set back has times in the future, which the pass
restarts from now instead of waiting out the jump.
"""

from __future__ import annotations

import time

import pytest

from controller import config as config_module
from controller import decide
from controller.observation import IssueView, Observation, PaneView
from controller.reconcile import Reconciler, steady_clock
from controller.record import Record, parse_iso, utc_now_iso
from controller.screens import Reading
from controller.store import Store
from tests.reliability.figures import FIGURES

STALL_S = 180.0
HOUR = 3600.0


class JumpingClock:
    """time.time as a machine whose clock a person (or NTP) steps."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + 1_800_000_000 + self.offset


@pytest.mark.parametrize("jump", [-HOUR, HOUR, -30 * 24 * HOUR])
def test_steady_clock_ignores_a_jump(monkeypatch, jump):
    wall = JumpingClock()
    monkeypatch.setattr(time, "time", wall)
    clock = steady_clock()
    before = clock()
    wall.offset += jump
    FIGURES.fault("clock-jump")
    after = clock()
    assert 0 <= after - before < 5


def _idle_working(pane_since: float, now: float) -> tuple[Record, Observation, decide.Context]:
    reading = Reading("idle")
    record = Record(
        issue=7,
        state="working",
        title="t",
        session="worker-7",
        pane=str(reading),
        pane_since=utc_now_iso(pane_since),
    )
    obs = Observation(now=now)
    obs.issues[7] = IssueView(
        number=7, title="t", url="", state="open", state_reason=None, author="demo", eligible=True
    )
    obs.panes[7] = PaneView(session="worker-7", reading=reading, raw=reading)
    return record, obs, decide.Context(now=now, stall_after_s=STALL_S)


def _reconciler(tmp_path) -> Reconciler:
    config = config_module.from_mapping({"policy": {"retry_backoff_max_s": 600}})
    store = Store.open(tmp_path / "state")
    return Reconciler(config, store, None, None, None, None, settle=False)


def test_stall_timer_after_the_clock_went_back(tmp_path):
    """Written an hour 'later' than now: restarted from now, fires after stall_after_s."""
    reconciler = _reconciler(tmp_path)
    now = time.time()
    record, obs, ctx = _idle_working(now + HOUR, now)
    reconciler.store.create(record, "test")
    reconciler.store.update(7, pane=record.pane, pane_since=record.pane_since)
    FIGURES.fault("clock-jump")

    # Unrepaired, the timer would wait out the whole hour.
    assert decide.decide(reconciler.store.load(7), obs, ctx) is None
    repaired = reconciler._restart_timers_after_clock_jump(reconciler.store.load(7), now)
    assert abs(parse_iso(repaired.pane_since) - now) <= 1

    early = decide.decide(
        repaired,
        Observation(now=now + STALL_S - 5, issues=obs.issues, panes=obs.panes),
        decide.Context(now=now + STALL_S - 5, stall_after_s=STALL_S),
    )
    assert early is None or early.dest != "stalled"
    due = decide.decide(
        repaired,
        Observation(now=now + STALL_S + 1, issues=obs.issues, panes=obs.panes),
        decide.Context(now=now + STALL_S + 1, stall_after_s=STALL_S),
    )
    assert due is not None and due.dest == "stalled"


def test_backoff_after_the_clock_went_back(tmp_path):
    reconciler = _reconciler(tmp_path)
    now = time.time()
    reconciler.store.create(Record(issue=7, state="discovered"), "test")
    reconciler.store.update(7, retry_at=utc_now_iso(now + 30 * 24 * HOUR), attempts=1)
    FIGURES.fault("clock-jump")
    repaired = reconciler._restart_timers_after_clock_jump(reconciler.store.load(7), now)
    assert parse_iso(repaired.retry_at) <= now + 600 + 1
    assert parse_iso(repaired.retry_at) >= now + 600 - 1

    # A backoff within the longest one is left alone: it is not a jump.
    reconciler.store.update(7, retry_at=utc_now_iso(now + 100))
    kept = reconciler._restart_timers_after_clock_jump(reconciler.store.load(7), now)
    assert kept.retry_at == utc_now_iso(now + 100)


def test_stall_timer_not_early_when_the_clock_jumps_forward(monkeypatch, tmp_path):
    """A reconciler's own clock does not see the jump, so idle time is not inflated."""
    wall = JumpingClock()
    monkeypatch.setattr(time, "time", wall)
    clock = steady_clock()
    start = clock()
    record, obs, _ = _idle_working(start, start)
    wall.offset += HOUR
    FIGURES.fault("clock-jump")
    now = clock()
    step = decide.decide(
        record,
        Observation(now=now, issues=obs.issues, panes=obs.panes),
        decide.Context(now=now, stall_after_s=STALL_S),
    )
    assert step is None or step.dest != "stalled"
