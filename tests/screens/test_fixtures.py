"""Every real Claude Code screen classifies as its label says, wide and narrow."""

from __future__ import annotations

import pytest

from controller.screens import classify, load_profile
from tests.screens import captures

LABELS = captures.labels()


def assert_label(reading, cls: str, detail: str) -> None:
    assert reading.cls == cls, f"got {reading}, labelled {cls} {detail}".rstrip()
    if detail:
        assert reading.detail == detail, f"got {reading}, labelled {cls} {detail}"


@pytest.mark.parametrize(("name", "cls", "detail"), LABELS, ids=[row[0] for row in LABELS])
def test_capture_classifies_as_labelled(name, cls, detail):
    profile = load_profile("claude-code")

    with_ansi = classify(
        captures.text(name), profile, ansi=captures.ansi(name), **captures.meta(name)
    )
    plain = classify(captures.text(name), profile, **captures.meta(name))

    assert_label(with_ansi, cls, detail)
    assert_label(plain, cls, detail)


@pytest.mark.parametrize(("name", "cls", "detail"), LABELS, ids=[row[0] for row in LABELS])
def test_capture_without_pane_fields_classifies_as_labelled(name, cls, detail):
    reading = classify(captures.text(name), load_profile("claude-code"))

    assert_label(reading, cls, detail)


@pytest.mark.parametrize(("name", "cls", "detail"), LABELS, ids=[row[0] for row in LABELS])
def test_capture_wrapped_at_80_columns_classifies_as_labelled(name, cls, detail):
    reading = classify(captures.narrow(captures.text(name)), load_profile("claude-code"))

    assert_label(reading, cls, detail)


def test_labels_cover_every_class():
    assert {cls for _, cls, _ in LABELS} == {
        "busy",
        "idle",
        "draft",
        "permission",
        "dialog",
        "login",
        "exited",
    }
