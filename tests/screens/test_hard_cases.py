"""The screens that fool a classifier reading one string on the last line.

Each case starts from a real capture and changes only what the case is about, so the
rest of the screen stays exactly what Claude Code draws.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from controller.screens import classify, load_profile
from tests.screens import captures

NBSP = "\u00a0"
RULE = "─" * 200


@pytest.fixture(scope="module")
def profile():
    return load_profile("claude-code")


def edit(name: str, old: str, new: str, count: int = 1) -> str:
    screen = captures.text(name)
    assert screen.count(old) >= count, f"{old!r} not in {name}"
    return screen.replace(old, new, count)


def box_line(screen: str) -> str:
    return next(line for line in screen.split("\n") if line.startswith("❯" + NBSP))


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# --- the live input line ------------------------------------------------------------


def test_live_input_line_is_the_prompt_with_a_no_break_space(profile):
    screen = captures.text("91-early-typed-input-before-ready")
    with_plain_space = screen.replace("❯" + NBSP, "❯ ")

    assert classify(screen, profile).input_text == "early typed text"
    assert classify(with_plain_space, profile).input_text is None
    assert classify(with_plain_space, profile).cls != "draft"


def test_past_prompts_in_the_transcript_are_not_drafts(profile):
    reading = classify(captures.text("19c-long-text-after-second-enter"), profile)

    assert reading.cls == "idle"
    assert reading.input_text == ""


def test_multi_line_draft_is_read_whole(profile):
    reading = classify(captures.text("h14a-draft-multiline-bracketed-paste"), profile)

    assert reading.cls == "draft"
    assert reading.input_text == (
        "First line of the draft\nSecond line: fix the lexer\nThird line: and update the docs"
    )


# --- text in answers ------------------------------------------------------------------

FAKE_ANSWER = "\n".join(
    [
        "● Here is what the old tool printed:",
        "",
        "  ❯" + NBSP + "leftover input",
        "  " + "─" * 40,
        "  Do you want to proceed?",
        "  ❯ 1. Yes, I trust this folder",
        "    2. No, exit",
        "  esc to interrupt · ← for agents",
        "  ✶ Pondering… (3s · ↓ 16 tokens)",
        "  ⎿  Invalid API key · Fix external API key",
        "  Press Enter to continue…",
        "",
    ]
)


def test_fake_menus_and_footers_inside_an_answer_leave_an_idle_screen_idle(profile):
    anchor = "✻ Worked for 25s"
    screen = edit("15-idle-after-slow-answer", anchor, FAKE_ANSWER + "\n" + anchor)

    reading = classify(screen, profile)

    assert (reading.cls, reading.detail, reading.input_text) == ("idle", None, "")


def test_fake_dialog_text_above_a_permission_prompt_does_not_pick_the_dialog(profile):
    anchor = "● Bash(touch made_by_bash.txt)"
    screen = edit("10-permission-prompt-bash", anchor, FAKE_ANSWER + "\n" + anchor)

    assert str(classify(screen, profile)) == "permission"


def test_a_question_menu_cursor_is_not_taken_for_a_past_prompt(profile):
    # "❯ 1. Red" sits at column 0 like a past prompt; the whole dialog must still be read.
    screen = edit(
        "63-ask-user-question-menu", "Enter to select · ↑/↓ to navigate · Esc to cancel", ""
    )

    assert str(classify(screen, profile)) == "dialog question"


# --- busy -----------------------------------------------------------------------------


def without_footer(name: str) -> str:
    lines = captures.lines(name)
    footer = max(i for i, line in enumerate(lines) if "esc to interrupt" in line)
    lines[footer] = ""
    return "\n".join(lines)


@pytest.mark.parametrize(
    "name",
    [
        "h07b-busy-with-task-list",
        "h09a-busy-subagent-running-5s",
        "14-busy-streaming-4s",
        "08a-after-send-text-enter-0.15s",
    ],
)
def test_spinner_line_far_above_the_box_means_busy_without_the_footer(profile, name):
    assert classify(without_footer(name), profile).cls == "busy"


def test_running_tool_means_busy_without_spinner_or_footer(profile):
    screen = without_footer("h05c-busy-bash-sleep-5s").replace(
        "✻ Composing… (4s · ↓ 23 tokens)", ""
    )

    assert classify(screen, profile).cls == "busy"


def test_api_retry_countdown_is_busy(profile):
    screen = without_footer("h10a-api429-plain-retrying-2s")

    assert str(classify(screen, profile)) == "busy retrying"


def test_footer_below_the_agents_panel_position_still_counts(profile):
    reading = classify(captures.text("h09a-busy-subagent-running-5s"), profile)

    assert reading.cls == "busy"
    assert reading.input_text == ""


def test_a_finished_spinner_summary_is_not_busy(profile):
    assert classify(captures.text("h01-idle-answer-numbered-list"), profile).cls == "idle"


def test_footer_wrapped_in_a_narrow_pane_still_says_busy(profile):
    screen = captures.narrow(without_footer("34-bypass-busy"), width=60).replace(
        "* Ionizing… (1s · ↓ 6 tokens)", ""
    )
    screen += "\n  ⏵⏵ bypass permissions on (shift+tab to cycle) · esc to\n  interrupt"

    assert classify(screen, profile).cls == "busy"


def test_spinner_line_wrapped_before_its_ellipsis_is_busy(profile):
    screen = without_footer("h07b-busy-with-task-list").replace(
        "✶ Fixing the parser… (3s · ↓ 16 tokens)",
        "✶ Fixing the parser and the lexer and the docs and\nthe tests… (3s · ↓ 16 tokens)",
    )

    assert classify(screen, profile).cls == "busy"


@pytest.mark.parametrize(
    "summary",
    [
        "✻ Worked for 12s · 1 shell still running",
        "● Waiting for 1 background agent to finish",
    ],
)
def test_work_left_running_in_the_background_is_busy(profile, summary):
    screen = edit("15-idle-after-slow-answer", "✻ Worked for 25s", summary)

    assert str(classify(screen, profile)) == "busy background"


def test_background_work_followed_by_a_finished_turn_is_idle(profile):
    later = "✻ Worked for 12s · 1 shell still running\n\n● All checks passed.\n\n✻ Baked for 3s"
    screen = edit("15-idle-after-slow-answer", "✻ Worked for 25s", later)

    assert classify(screen, profile).cls == "idle"


def test_busy_title_wins_over_an_idle_looking_screen(profile):
    screen = captures.text("07-main-idle-prompt-settled")

    assert classify(screen, profile, title="⠐ Fixing the parser").cls == "busy"
    assert classify(screen, profile, title="✳ Fixing the parser").cls == "idle"


def test_queued_text_while_busy_stays_busy_and_reports_the_text(profile):
    name = "h07b-busy-with-task-list"
    screen = edit(name, "❯" + NBSP + "\n", "❯" + NBSP + "also fix the docs\n")

    reading = classify(screen, profile)

    assert (reading.cls, reading.input_text) == ("busy", "also fix the docs")


# --- placeholder or draft -------------------------------------------------------------

IDLE = "07-main-idle-prompt-settled"


def with_box_text(plain_text: str, ansi_text: str) -> tuple[str, str]:
    plain = edit(IDLE, "❯" + NBSP + "\n", "❯" + NBSP + plain_text + "\n")
    ansi = captures.ansi(IDLE)
    old = "\x1b[39m❯\u00a0\x1b[7m \x1b[0m"
    assert old in ansi
    return plain, ansi.replace(old, "\x1b[39m❯\u00a0" + ansi_text, 1)


@pytest.mark.parametrize(
    "styled",
    [
        "\x1b[7mA\x1b[0m\x1b[2msk about this codebase\x1b[0m",
        "\x1b[7mA\x1b[0m\x1b[38;5;246msk about this codebase\x1b[39m",
        "\x1b[90mAsk about this codebase\x1b[39m",
    ],
)
def test_dim_placeholder_in_the_box_is_idle(profile, styled):
    plain, ansi = with_box_text("Ask about this codebase", styled)

    reading = classify(plain, profile, ansi=ansi)

    assert (reading.cls, reading.input_text) == ("idle", "")


def test_normal_text_in_the_box_is_a_draft_even_with_a_dim_cursor_neighbour(profile):
    plain, ansi = with_box_text("Ask about this codebase", "Ask about this codebase\x1b[7m \x1b[0m")

    reading = classify(plain, profile, ansi=ansi)

    assert (reading.cls, reading.input_text) == ("draft", "Ask about this codebase")


def test_without_the_ansi_capture_only_known_placeholders_count_as_empty(profile):
    known, _ = with_box_text('Try "fix lint errors"', "")
    unknown, _ = with_box_text("Ask about this codebase", "")

    assert str(classify(known, profile)) == "idle"
    assert str(classify(unknown, profile)) == "draft"


# --- usage limits, login, exit --------------------------------------------------------


def test_session_limit_is_idle_with_the_reset_time(profile):
    screen = captures.text("h11a-sub429-session-limit-max")

    before = classify(screen, profile, now=utc("2026-12-03T15:00:00"))
    after = classify(screen, profile, now=utc("2026-12-03T19:00:00"))

    assert str(before) == "idle usage-limit"
    assert before.reset_at == utc("2026-12-03T18:20:00")
    assert after.reset_at == utc("2026-12-04T18:20:00")


def test_weekly_limit_reset_with_a_date_and_a_time_zone(profile):
    screen = edit(
        "h11a-sub429-session-limit-max",
        "session limit · resets 6:20pm (UTC)",
        "weekly limit · resets Dec 6, 4:04pm (Europe/Berlin)",
    )

    reading = classify(screen, profile, now=utc("2026-12-03T15:00:00"))

    assert str(reading) == "idle usage-limit"
    assert reading.reset_at == utc("2026-12-06T15:04:00")


def test_usage_limit_menu_is_a_dialog_with_the_reset_time(profile):
    screen = captures.text("h12a-sub429-pro-rate-limit-options-menu")

    reading = classify(screen, profile, now=utc("2026-12-03T15:00:00"))

    assert str(reading) == "dialog usage-limit"
    assert reading.reset_at == utc("2026-12-03T18:21:00")
    assert profile.dialog_keys["usage-limit"] == ["Enter"]


def test_usage_warning_in_the_footer_is_still_idle(profile):
    warning = "You've used 93% of your session limit · resets 6pm (UTC)"
    screen = edit(IDLE, "Auto-updating…", warning)

    reading = classify(screen, profile)

    assert (reading.cls, reading.detail) == ("idle", None)


def test_login_text_an_agent_wrote_in_its_answer_is_not_a_login_problem(profile):
    answer = "● The log said:\n  ⎿  Invalid API key · Fix external API key\n\n✻ Worked for 25s"
    screen = edit("15-idle-after-slow-answer", "✻ Worked for 25s", answer)

    assert str(classify(screen, profile)) == "idle"


def test_old_not_logged_in_line_of_an_earlier_turn_is_not_a_login_problem(profile):
    assert str(classify(captures.text("48-login-cancelled"), profile)) == "idle"


@pytest.mark.parametrize(
    "fields",
    [
        {"dead": True},
        {"current_command": "bash"},
        {"current_command": "/usr/bin/zsh"},
    ],
)
def test_what_tmux_knows_comes_before_the_text(profile, fields):
    screen = captures.text("h07b-busy-with-task-list")

    assert classify(screen, profile, **fields).cls == "exited"


def test_the_agent_in_the_foreground_is_read_from_the_text(profile):
    screen = captures.text("h07b-busy-with-task-list")

    assert classify(screen, profile, current_command="claude").cls == "busy"


def test_dead_pane_with_a_failing_status_is_an_error(profile):
    failed = captures.text("36-after-ctrl-c-twice-exited").replace("(status 0,", "(status 1,")

    assert str(classify(captures.text("36-after-ctrl-c-twice-exited"), profile)) == "exited"
    assert str(classify(failed, profile)) == "exited error"


def test_empty_screen_before_the_first_frame_means_wait(profile):
    assert classify("\n" * 49, profile).cls == "busy"


def test_input_text_is_none_when_a_dialog_replaced_the_box(profile):
    assert classify(captures.text("10-permission-prompt-bash"), profile).input_text is None


def test_dialog_keys_are_named_for_every_dialog_the_controller_may_answer(profile):
    assert profile.dialog_keys["trust"] == ["Enter"]
    assert profile.dialog_keys["bypass"] == ["Down", "Enter"]
    assert profile.dialog_keys["api-key"] == ["Up", "Enter"]
    assert {"question", "plan", "picker"}.isdisjoint(profile.dialog_keys)
