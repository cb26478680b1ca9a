"""Settling: a reading counts once it held across two looks `settle_s` apart."""

from __future__ import annotations

from controller.screens import Reading, Settler

IDLE, BUSY = Reading("idle", input_text=""), Reading("busy", input_text="")


def test_first_observation_is_not_settled():
    settler = Settler(settle_s=1.0)

    assert settler.observe("worker-1", IDLE, "screen", now=100.0) == (None, None)


def test_same_reading_settles_once_settle_s_has_passed():
    settler = Settler(settle_s=1.0)
    settler.observe("worker-1", IDLE, "screen", now=100.0)

    early = settler.observe("worker-1", IDLE, "screen", now=100.5)
    settled = settler.observe("worker-1", IDLE, "screen", now=101.0)

    assert early == (None, None)
    assert settled == (IDLE, 100.0)


def test_a_different_reading_starts_over():
    settler = Settler(settle_s=1.0)
    settler.observe("worker-1", IDLE, "a", now=100.0)
    settler.observe("worker-1", BUSY, "b", now=101.0)

    assert settler.observe("worker-1", BUSY, "b", now=101.5) == (None, None)
    assert settler.observe("worker-1", BUSY, "c", now=102.0) == (BUSY, 101.0)


def test_detail_counts_as_part_of_the_reading():
    settler = Settler(settle_s=1.0)
    settler.observe("worker-1", Reading("dialog", "trust"), "a", now=100.0)

    assert settler.observe("worker-1", Reading("dialog", "theme"), "a", now=102.0) == (None, None)


def test_busy_screen_that_keeps_changing_still_settles_as_busy():
    settler = Settler(settle_s=1.0)
    settler.observe("worker-1", BUSY, "spinner 1s", now=100.0)

    assert settler.observe("worker-1", BUSY, "spinner 2s", now=101.0) == (BUSY, 100.0)


def test_content_change_is_tracked_separately_from_the_reading():
    settler = Settler(settle_s=1.0)
    settler.observe("worker-1", BUSY, "frozen", now=100.0)
    settler.observe("worker-1", BUSY, "frozen", now=150.0)
    assert settler.unchanged_since("worker-1") == 100.0

    settler.observe("worker-1", BUSY, "moved", now=160.0)

    assert settler.unchanged_since("worker-1") == 160.0


def test_keys_are_independent_and_forget_drops_one():
    settler = Settler(settle_s=1.0)
    settler.observe("worker-1", IDLE, "a", now=100.0)
    settler.observe("worker-12", IDLE, "a", now=100.0)

    settler.forget("worker-1")

    assert settler.observe("worker-1", IDLE, "a", now=101.0) == (None, None)
    assert settler.observe("worker-12", IDLE, "a", now=101.0) == (IDLE, 100.0)
    assert settler.unchanged_since("nobody") is None


def test_latest_reading_is_returned_with_its_fields():
    settler = Settler(settle_s=1.0)
    settler.observe("w", Reading("draft", input_text="ab"), "ab", now=100.0)

    settled, since = settler.observe("w", Reading("draft", input_text="abc"), "abc", now=101.0)

    assert (settled.input_text, since) == ("abc", 100.0)
