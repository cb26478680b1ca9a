"""The generic profile: a line-oriented program that prints "> " when it waits."""

from __future__ import annotations

import pytest

from controller.screens import classify, load_profile


@pytest.fixture(scope="module")
def generic():
    return load_profile("generic")


SESSION = "starting helper v1\n> fix the parser\nreading files...\npatched parser.py\n"


@pytest.mark.parametrize(
    ("screen", "expected", "input_text"),
    [
        (SESSION + "> ", "idle", ""),
        (SESSION + ">", "idle", ""),
        (SESSION + "> \n\n\n", "idle", ""),
        (SESSION + "> run the tests too", "draft", "run the tests too"),
        (SESSION, "busy", None),
        (SESSION + "running tests (12/40)", "busy", None),
        ("", "busy", None),
        # The prompt of an earlier exchange is not the live one.
        ("> old question\nthinking...", "busy", None),
        (">> nested quote", "busy", None),
    ],
)
def test_prompt_on_the_last_line_is_the_only_input_line(generic, screen, expected, input_text):
    reading = classify(screen, generic)

    assert (reading.cls, reading.input_text) == (expected, input_text)


def test_dead_pane_is_exited_whatever_the_text(generic):
    assert classify(SESSION + "> ", generic, dead=True).cls == "exited"


def test_generic_profile_leaves_the_command_to_the_configuration(generic):
    assert generic.command == []
    assert generic.setup is None
    assert generic.exited_commands == []
