"""Reading a small file a person names: whole, bounded, and never a pipe or a device.

The configuration and the agent profiles are files a person points the controller
at. A wrong name must give an error, not a hang or an exhausted machine: a named
pipe would block the read until some writer came, and a link to /dev/zero would be
read until memory ran out. So such a file is opened without blocking, checked on the
open descriptor (what is read is what was checked), and read only up to a limit far
above what any of them needs. YAML errors are said in one line with their line number,
and a wrong value in the words of the file (`found the text 'x'`, `found true`) rather
than of Python.
"""

from __future__ import annotations

import datetime as dt
import errno
import math
import os
import stat
from pathlib import Path
from typing import Any

import yaml

# Far more than a configuration or a profile needs, and little enough to read at once.
MAX_BYTES = 1024 * 1024

_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileProblem(ValueError):
    """A file that is not a plain file of a sensible size; the message says which."""


def read_small(path: Path, *, what: str) -> bytes:
    """The whole of a regular file of at most MAX_BYTES.

    `what` names the kind of file in the messages ("configuration", "profile"). A missing
    file raises FileNotFoundError and a folder IsADirectoryError, for the caller to say
    in its own words; anything else that is not a plain file, or is too large, raises
    FileProblem.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "special")
            raise FileProblem(
                f"{path}: is {kind}, not a regular file, so not a {what} file; "
                "name the YAML file itself"
            )
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:
            raise FileProblem(
                f"{path}: is larger than {MAX_BYTES // 1024 // 1024} MiB, far more than a "
                f"{what} needs; name the right file, or shorten it"
            )
        return b"".join(chunks)
    finally:
        os.close(fd)


def yaml_problem(error: yaml.YAMLError, text: str) -> tuple[int | None, str]:
    """The line (from 1) and the problem of a YAML error, in one line of words."""
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        line = mark.line + 1
    elif isinstance(getattr(error, "position", None), int):
        line = text.count("\n", 0, error.position) + 1  # a reader error: bad characters
    else:
        line = None
    if isinstance(error, yaml.reader.ReaderError):
        character = error.character
        shown = f"#x{character:04x}" if isinstance(character, int) else repr(character)
        problem = f"the character {shown} is not allowed in YAML ({error.reason}); remove it"
    else:
        problem = getattr(error, "problem", None) or str(error)
    return line, " ".join(str(problem).split())


def number_text(value: int | float) -> str:
    """A number as a person wrote it: 200 rather than 200.0, and a huge one by its size."""
    if isinstance(value, float):
        if math.isnan(value):
            return "not-a-number (.nan)"
        if math.isinf(value):
            return "infinity" if value > 0 else "minus infinity"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if abs(value) >= 10**15:
        return "a number of more than 15 digits"
    return str(value)


def written(value: Any) -> str:
    """What was written, in the words of the file rather than of Python."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)  # 3.0 where a whole number is wanted
    if isinstance(value, int | float):
        return number_text(value)
    if isinstance(value, str):
        if len(value) > 60:
            return f"the text {value[:60]!r}... ({len(value)} characters)"
        return f"the text {value!r}"
    if isinstance(value, dt.datetime):
        return f"the date and time {value.isoformat()}"
    if isinstance(value, dt.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bytes):
        return "binary data"
    return "a set" if isinstance(value, set) else "a value of another kind"
