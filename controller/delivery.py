"""Handing a prompt to an agent so that it arrives whole and is submitted exactly once.

Typing into a terminal program is not a function call: keys sent before its first
screen are partly lost, an Enter that arrives in the same burst as a long text is taken
as part of a paste and swallowed, and a second Ctrl-C ends Claude Code. So a prompt is
delivered in steps, each checked on the screen before the next: wait for an empty input
box (answering the start-up dialogs the profile knows), paste the text, see it in the
box, press Enter in a separate call, then see the box empty or the agent busy. An Enter
that was swallowed is pressed again, a bounded number of times.

This module reads screens only through `screens.classify` (an error quotes a screen's
last lines, masked) and talks to tmux only through the sessions object it is given. It
never imports libtmux or GitPython, never builds a shell string, and never sends Ctrl-C.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from controller.masking import mask
from controller.processes import agent_command
from controller.screens import Reading, classify

log = logging.getLogger(__name__)

POLL_S = 0.1
# An Enter is judged swallowed when the text still sits in the box this long after it.
ENTER_GRACE_S = 1.0
# A dialog is answered at most this often per delivery, so a loop of dialogs ends.
MAX_DIALOG_ANSWERS = 5
FAILED = frozenset({"exited", "login", "permission"})
# How much of a pane's last words an error quotes: enough for "command not found: ...".
SCREEN_TAIL_CHARS = 200
# How long an error waits for the pane of an agent that has exited to be dead.
EXIT_STATUS_WAIT_S = 2.0
_PANE_DEAD = re.compile(r"^Pane is dead\b")


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    enters: int = 0
    error: str | None = None


def read(sessions, name: str, profile) -> Reading:
    """Classify the session's pane now, with what tmux knows about it."""
    pane = sessions.list().get(name)
    if pane is None:
        return Reading("exited", "no-session")
    text = sessions.capture(name)
    ansi = sessions.capture(name, ansi=True) if getattr(profile, "placeholder_dim", False) else None
    command = (
        pane.current_command
        if pane.dead
        else agent_command(pane.current_command, pane.pid, getattr(profile, "exited_commands", ()))
    )
    return classify(
        text, profile, dead=pane.dead, current_command=command, title=pane.title, ansi=ansi
    )


def screen_tail(sessions, name: str, *, known: Iterable[str | None] = ()) -> str:
    """The last lines of an agent's pane, as one masked line of bounded length.

    The class of a screen (`exited error`) tells that something went wrong; the
    program's last words (`command not found: ...`, a shell's error) tell what. They go
    into an error that is kept in a state file and shown by `status`, so they are
    masked, made one line and cut short. "" when the pane is gone or blank.
    """
    try:
        # Joined, so a message (or a key) the terminal wrapped is read, and masked, whole.
        text = sessions.capture(name, join=True)
    except Exception:  # the pane went meanwhile: nothing more to say
        return ""
    lines = [line for line in text.splitlines() if line.strip() and not _PANE_DEAD.match(line)]
    # exec_env.py's own messages start with the program's name; the cause is what follows.
    lines = [" ".join(line.split()).removeprefix("controller: ") for line in lines[-2:]]
    said = mask(" / ".join(lines), known)
    if len(said) > SCREEN_TAIL_CHARS:
        said = "..." + said[-(SCREEN_TAIL_CHARS - 3) :]
    return said


def _not_ready(
    message: str, reading: Reading, sessions, name: str, known: Iterable[str | None]
) -> str:
    """`message` with what the pane says; the cause first when the agent has exited.

    `status` shows only the start of an error, so an agent that died leads with its
    exit status and its last words: `agent exited 127: command not found: 'x'; ...`.
    """
    pane = sessions.list().get(name)
    # A screen reads exited as soon as a shell is in the foreground (its last words);
    # the pane is dead a moment later. tmux does not always learn the exit status.
    deadline = time.monotonic() + EXIT_STATUS_WAIT_S
    while reading.cls == "exited" and pane is not None and not pane.dead:
        if time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
        pane = sessions.list().get(name)
    if pane is None:
        return message
    said = screen_tail(sessions, name, known=known)
    if pane.dead:
        status = "" if pane.dead_status is None else f" {pane.dead_status}"
        return f"agent exited{status}: {said or '(no output)'} ({message})"
    return f"{message}; its screen ends with: {said}" if said else message


def _in_box(reading: Reading) -> bool:
    return reading.cls == "draft" or bool(reading.input_text)


def _submitted(reading: Reading) -> bool:
    return reading.cls == "busy" or (reading.cls == "idle" and not reading.input_text)


def wait_ready(sessions, name: str, profile, *, timeout: float) -> Reading:
    """Wait for an empty input box, answering the dialogs the profile has keys for."""
    dialog_keys = getattr(profile, "dialog_keys", {}) or {}
    answered = 0
    deadline = time.monotonic() + timeout
    reading = read(sessions, name, profile)
    while time.monotonic() < deadline:
        if reading.cls == "idle" and not reading.input_text:
            return reading
        if reading.cls in FAILED:
            return reading
        if reading.cls == "dialog" and reading.detail in dialog_keys:
            if answered >= MAX_DIALOG_ANSWERS:
                return reading
            keys = dialog_keys[reading.detail]
            sessions.send_keys(name, *keys)
            answered += 1
            log.info("answered dialog %s in %s with %s", reading.detail, name, " ".join(keys))
            time.sleep(POLL_S * 3)  # lets the dialog close before it is read again
        time.sleep(POLL_S)
        reading = read(sessions, name, profile)
    return reading


def _press_enter_until_submitted(
    sessions, name: str, profile, *, verify_timeout: float, max_enters: int
) -> DeliveryResult:
    enter = (getattr(profile, "keys", {}) or {}).get("submit", "Enter")
    enters = 0
    deadline = time.monotonic() + verify_timeout
    reading = read(sessions, name, profile)
    while enters < max_enters:
        sessions.send_keys(name, enter)
        enters += 1
        pressed_at = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            reading = read(sessions, name, profile)
            if _submitted(reading):
                return DeliveryResult(True, enters)
            if reading.cls in FAILED or reading.cls == "dialog":
                return DeliveryResult(False, enters, f"the agent showed {reading} after Enter")
            if time.monotonic() - pressed_at >= ENTER_GRACE_S:
                break
        else:
            break
        log.info("pressed enter again in %s: the text still sat in the box", name)
    return DeliveryResult(
        False,
        enters,
        f"the text stayed in the input box after {enters} Enter presses (screen reads {reading})",
    )


def deliver(
    sessions,
    name: str,
    text: str,
    profile,
    *,
    ready_timeout: float = 30.0,
    verify_timeout: float = 10.0,
    max_enters: int = 3,
    known: Iterable[str | None] = (),
) -> DeliveryResult:
    """Paste `text` into the agent's input box and submit it once, checking each step.

    `known` are secrets to mask in the error when the agent never took the prompt: the
    error quotes the last lines of its screen.
    """
    reading = wait_ready(sessions, name, profile, timeout=ready_timeout)
    if reading.cls in FAILED:
        message = f"the agent's screen reads {reading} before it took a prompt"
        return DeliveryResult(False, 0, _not_ready(message, reading, sessions, name, known))
    if not (reading.cls == "idle" and not reading.input_text):
        message = (
            f"the agent was not ready for a prompt within "
            f"{ready_timeout:.0f}s: its screen reads {reading}"
        )
        return DeliveryResult(False, 0, _not_ready(message, reading, sessions, name, known))

    if (getattr(profile, "keys", {}) or {}).get("paste", "bracketed") == "literal":
        sessions.send_text(name, text)
    else:
        sessions.paste_text(name, text)
    deadline = time.monotonic() + verify_timeout
    while not _in_box(reading):
        if time.monotonic() > deadline:
            return DeliveryResult(
                False, 0, f"the pasted text never showed in the input box (screen reads {reading})"
            )
        time.sleep(POLL_S)
        reading = read(sessions, name, profile)

    result = _press_enter_until_submitted(
        sessions, name, profile, verify_timeout=verify_timeout, max_enters=max_enters
    )
    if result.ok:
        log.info(
            "delivered a prompt of %d characters to %s with %d enter(s)",
            len(text),
            name,
            result.enters,
        )
    else:
        log.warning("prompt delivery to %s failed: %s", name, result.error)
    return result


def submit_draft(
    sessions, name: str, profile, *, verify_timeout: float = 10.0, max_enters: int = 3
) -> DeliveryResult:
    """Submit text found sitting in the input box, then check that it went."""
    return _press_enter_until_submitted(
        sessions, name, profile, verify_timeout=verify_timeout, max_enters=max_enters
    )


__all__ = ["deliver", "submit_draft", "wait_ready", "read", "screen_tail", "DeliveryResult"]
